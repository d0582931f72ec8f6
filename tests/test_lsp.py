"""`fsl lsp` end to end: a real LSP client (pytest-lsp) talking to `python -m fsl lsp`
over stdio, on a copy of the checker's fixture project (tests/fixtures/check)."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

HERE = Path(__file__).parent
PROJECT = HERE / "fixtures" / "check"
PLAYBOOK = (HERE / "fixtures" / "lsp" / "onboarding.fsl").read_text()
DEADLINE = 60  # seconds: a safety net only; every wait is for a condition

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(PROJECT / "fsl.yaml", tmp_path / "fsl.yaml")
    shutil.copytree(PROJECT / "templates", tmp_path / "templates")
    (tmp_path / "cases").mkdir()
    return tmp_path


async def _start(lsp_client: LanguageClient, root: Path | None = None):
    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=t.ClientCapabilities(), root_uri=root.as_uri() if root else None))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "fsl", "lsp"]))
async def client(lsp_client: LanguageClient):
    async for _ in _start(lsp_client):
        yield


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, str(HERE / "lsp_buggy_fmt.py")]))
async def buggy_client(lsp_client: LanguageClient):
    async for _ in _start(lsp_client):
        yield


def open_doc(client: LanguageClient, path: Path, text: str) -> str:
    path.write_text(text)
    uri = path.resolve().as_uri()
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri, language_id="fsl", version=1, text=text)))
    return uri


async def diagnostics_when(client: LanguageClient, uri: str, holds) -> list[t.Diagnostic]:
    """The document's diagnostics, once `holds(diagnostics)` is true."""
    async def wait() -> list[t.Diagnostic]:
        while uri not in client.diagnostics or not holds(list(client.diagnostics[uri])):
            await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(client.diagnostics[uri])
    return await asyncio.wait_for(wait(), DEADLINE)


def at(line: int, character: int) -> t.Position:
    return t.Position(line=line, character=character)


def doc(uri: str) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri=uri)


# ------------------------------------------------------------ diagnostics

async def test_diagnostics_as_you_type_same_as_fsl_check(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK)
    assert await diagnostics_when(client, uri, lambda ds: True) == []
    # a half-typed line, and a typo three steps further down: both are reported
    broken = PLAYBOOK.replace("goto welcome", "goto welcome\n        send email\n"
                              "    step c after 1 day:\n        if deal.amout > 3:\n            end\n"
                              "    step d after 1 day:\n        if deal.valu > 3:\n            end")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=broken)]))
    ds = await diagnostics_when(client, uri, lambda ds: len(ds) >= 3)
    got = sorted((d.code, d.range.start.line + 1, d.range.start.character + 1) for d in ds)
    assert got == [("E101", 15, 19), ("E204", 17, 12), ("E204", 20, 12)]
    typo = next(d for d in ds if d.range.start.line == 19)
    assert typo.source == "fsl" and typo.severity == t.DiagnosticSeverity.Error
    assert "help: did you mean deal.value?" in typo.message
    assert (typo.range.end.line, typo.range.end.character) == (19, 20)  # the end of deal.valu


async def test_diagnostics_are_those_of_fsl_check(client: LanguageClient, project: Path) -> None:
    """Every diagnostic of the checker's fixture cases, as `fsl check --format json` gives it."""
    cases = sorted((PROJECT / "cases").glob("*.fsl"))
    for case in cases:
        shutil.copy(case, project / "cases" / case.name)
    proc = subprocess.run([sys.executable, "-m", "fsl", "check", "--format", "json", "cases"],
                          cwd=project, capture_output=True, text=True, timeout=DEADLINE)
    expected: dict[str, list[tuple]] = {}
    for d in json.loads(proc.stdout)["diagnostics"]:
        message = d["message"] + (f"\nhelp: {d['help']}" if d["help"] else "")
        if d["file"].startswith("cases/"):
            expected.setdefault(d["file"], []).append(
                (d["code"], d["line"] - 1, d["column"] - 1, d["end_line"] - 1, d["end_column"] - 1, message))
    assert len(expected) > 20
    for case in cases:
        if case.name.startswith("W408"):
            continue  # without a project file: the case names its own config, the server finds fsl.yaml
        text = case.read_text()
        if "# config:" in text:
            continue
        uri = open_doc(client, project / "cases" / case.name, text)
        ds = await diagnostics_when(client, uri, lambda ds: True)
        # the server names files by their full path where `fsl check` names them as given
        here = str((project / "cases").resolve()) + "/"
        got = sorted((d.code, d.range.start.line, d.range.start.character, d.range.end.line,
                      d.range.end.character, d.message.replace(here, "cases/")) for d in ds)
        assert got == sorted(expected.get(f"cases/{case.name}", [])), case.name


async def test_template_and_project_file_problems_are_published(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK.replace('"hello"', '"broken"'))
    await diagnostics_when(client, uri, lambda ds: True)
    template = (project / "templates" / "broken.md").resolve().as_uri()
    (d,) = await diagnostics_when(client, template, lambda ds: len(ds) == 1)
    assert d.code == "E001" and "malformed template" in d.message


async def test_project_file_problems_are_published_in_it(client: LanguageClient, project: Path) -> None:
    config = project / "fsl.yaml"
    config.write_text(config.read_text().replace("timezone: Europe/Madrid", "timezone: Europe/Madird"))
    open_doc(client, project / "cases" / "p.fsl", PLAYBOOK)
    (d,) = await diagnostics_when(client, config.resolve().as_uri(), lambda ds: len(ds) == 1)
    assert d.code == "E002" and d.range.start.line == 5 and "Europe/Madird" in d.message


# ------------------------------------------------------------- completion

def labels(result) -> list[str]:
    items = result.items if isinstance(result, t.CompletionList) else result
    return [i.label for i in items]


async def complete(client: LanguageClient, project: Path, text: str, line: int, character: int) -> list[str]:
    uri = open_doc(client, project / "cases" / "c.fsl", text)
    return labels(await client.text_document_completion_async(
        t.CompletionParams(text_document=doc(uri), position=at(line, character))))


@pytest.mark.parametrize("typed, expected, absent", [
    ("        ", ["send", "goto", "if", "wait", "set"], ["playbook", "enroll"]),   # an action
    # a setting or a step (`send` is one too since v1.1: `send at best time`)
    ("    ", ["step", "enroll", "stop", "window", "let", "send"], ["goto", "wait"]),
    ("        if contact.", ["plan", "seats", "first_name"], ["stage"]),           # contact fields
    ("        if deal.", ["stage", "value", "name"], ["plan"]),                    # deal fields
    ("        if stakeholder.", ["role"], ["plan"]),
    ('        if contact.plan == ', ['free', 'pro', 'enterprise'], []),            # enum values
    ('        if deal.stage in ["open", ', ['won', 'lost'], []),
    ("        if count(", ["trial_started", "invoice_paid", "replied"], []),       # events
    ("        wait up to 2 days for ", ["trial_started", "invoice_paid"], []),
    ('        send email "', ["demo", "hello", "welcome"], []),                    # templates
    ("        goto ", ["welcome", "nudge"], []),                                   # steps
    ("        if opened(", ["welcome", "nudge"], []),
    ('        if clicked(welcome, "', ["demo", "pricing"], []),                    # link tags
    ("        send ", ["email", "sms", "whatsapp"], []),                           # channels
])
async def test_completion_in_steps(client: LanguageClient, project: Path, typed, expected, absent) -> None:
    text = PLAYBOOK + typed + "\n"
    got = await complete(client, project, text, 14, len(typed))
    assert set(expected) <= set(got), got
    assert not set(absent) & set(got), got


@pytest.mark.parametrize("typed, expected", [
    ("    stop on ", ["unsubscribed", "trial_started", "invoice_paid"]),
    ('    timezone "Europe/', ["Europe/Madrid", "Europe/Paris"]),
    ('    skip holidays "', ["ES", "US", "DE"]),
    ("    enroll on invoice_paid where event.", ["amount"]),
    ("    enroll ", ["on", "when"]),
])
async def test_completion_in_settings(client: LanguageClient, project: Path, typed, expected) -> None:
    lines = PLAYBOOK.split("\n")
    text = "\n".join(lines[:1] + [typed] + lines[1:])
    got = await complete(client, project, text, 1, len(typed))
    assert set(expected) <= set(got), got


# ------------------------------------------------------------------ hover

async def hover_text(client: LanguageClient, uri: str, line: int, character: int) -> str:
    h = await client.text_document_hover_async(t.HoverParams(text_document=doc(uri), position=at(line, character)))
    assert h is not None
    assert isinstance(h.contents, t.MarkupContent)
    return h.contents.value


async def test_hover(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK.replace("deal.value > 1000", 'contact.plan == "pro"'))
    await diagnostics_when(client, uri, lambda ds: True)
    assert "enroll on EVENT" in await hover_text(client, uri, 1, 6)                  # keyword
    field = await hover_text(client, uri, 5, 18)                                     # field
    assert "**enum**" in field and '"enterprise"' in field
    template = await hover_text(client, uri, 8, 21)                                  # template
    assert "subject: See it live" in template and "`demo`" in template and "renderer" in template
    step = await hover_text(client, uri, 11, 23)                                     # step
    assert "step **welcome**" in step and 'send email "demo"' in step
    assert "2 days" in await hover_text(client, uri, 10, 10)                         # step with timing
    assert "opened([STEP])" in await hover_text(client, uri, 11, 16)                 # function


# ----------------------------------------------------- navigation, rename

async def test_definition(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK)
    await diagnostics_when(client, uri, lambda ds: True)

    async def where(line: int, character: int) -> list[tuple[str, int]]:
        found = await client.text_document_definition_async(
            t.DefinitionParams(text_document=doc(uri), position=at(line, character)))
        return [(Path(loc.uri.removeprefix("file://")).name, loc.range.start.line) for loc in found or []]

    assert await where(13, 15) == [("p.fsl", 7)]                  # goto welcome -> the step
    assert await where(11, 36) == [("p.fsl", 5)]                  # big -> the let
    assert await where(8, 20) == [("demo.md", 0)]                 # the template file
    yaml_lines = (project / "fsl.yaml").read_text().split("\n")
    (name, line), = await where(5, 20)                            # deal.value -> fsl.yaml
    assert name == "fsl.yaml" and yaml_lines[line].strip() == "value: number"
    (name, line), = await where(1, 16)                            # the event
    assert name == "fsl.yaml" and yaml_lines[line].strip().startswith("trial_started:")


async def test_references_and_rename(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK)
    await diagnostics_when(client, uri, lambda ds: True)
    refs = await client.text_document_references_async(t.ReferenceParams(
        text_document=doc(uri), position=at(7, 10), context=t.ReferenceContext(include_declaration=True)))
    assert sorted(r.range.start.line for r in refs) == [7, 11, 13]
    edit = await client.text_document_rename_async(t.RenameParams(
        text_document=doc(uri), position=at(13, 15), new_name="hello_there"))
    assert edit is not None and edit.changes is not None
    assert sorted((e.range.start.line, e.range.start.character) for e in edit.changes[uri]) == \
        [(7, 9), (11, 22), (13, 13)]
    assert all(e.new_text == "hello_there" for e in edit.changes[uri])
    let_edit = await client.text_document_rename_async(t.RenameParams(
        text_document=doc(uri), position=at(5, 9), new_name="large"))
    assert let_edit is not None and let_edit.changes is not None
    assert sorted(e.range.start.line for e in let_edit.changes[uri]) == [5, 11]
    with pytest.raises(Exception, match="already has a step named nudge"):
        await client.text_document_rename_async(t.RenameParams(
            text_document=doc(uri), position=at(7, 10), new_name="nudge"))
    with pytest.raises(Exception, match="is a keyword"):
        await client.text_document_rename_async(t.RenameParams(
            text_document=doc(uri), position=at(7, 10), new_name="goto"))


async def test_document_symbols(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK)
    (pb,) = await client.text_document_document_symbol_async(t.DocumentSymbolParams(text_document=doc(uri)))
    assert isinstance(pb, t.DocumentSymbol)
    assert (pb.name, pb.kind) == ("onboarding", t.SymbolKind.Module)
    assert [(c.name, c.detail) for c in pb.children or []] == [("big", "let"), ("welcome", "step"), ("nudge", "step")]


# ------------------------------------------------------ formatting, fixes

async def test_formatting(client: LanguageClient, project: Path) -> None:
    messy = PLAYBOOK.replace("    stop on bounced\n", "").replace("    window", "    stop on bounced\n    window") \
        .replace("step nudge after 2 days:", "step nudge after 2 days :")
    uri = open_doc(client, project / "cases" / "p.fsl", messy)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=doc(uri), options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert edits and len(edits) == 1
    assert "step nudge after 2 days:" in edits[0].new_text
    broken = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=doc(open_doc(client, project / "cases" / "b.fsl", "playbook x:\n    step\n")),
        options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert not broken
    assert any("syntax errors" in m.message for m in client.messages)


async def test_formatting_refused_when_the_plan_would_change(buggy_client: LanguageClient, project: Path) -> None:
    uri = open_doc(buggy_client, project / "cases" / "p.fsl", PLAYBOOK)
    edits = await buggy_client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=doc(uri), options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert not edits
    (message,) = buggy_client.messages
    assert message.type == t.MessageType.Warning and "fsl fmt refused" in message.message
    assert (project / "cases" / "p.fsl").read_text() == PLAYBOOK


async def test_code_action_applies_did_you_mean(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "cases" / "p.fsl", PLAYBOOK.replace("deal.value", "deal.valeu"))
    (d,) = await diagnostics_when(client, uri, lambda ds: len(ds) == 1)
    fixes = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=doc(uri), range=d.range, context=t.CodeActionContext(diagnostics=[d])))
    (fix,) = fixes or []
    assert isinstance(fix, t.CodeAction) and fix.edit and fix.edit.changes
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == "deal.value" and edit.range == d.range
