"""The VS Code extension (editors/vscode) against the language it highlights.

What the JavaScript tooling cannot see: the TextMate grammar is checked here
against fsl's own parser.  A small TextMate tokenizer (the subset of the format
the grammar uses: match, begin/end, captures, includes) runs the grammar's
regexes with Python's `re`; every playbook of the repository is tokenized both
by it and by lark, and each lark token must get the scope of its kind (a
keyword a keyword scope, a duration a duration scope, a step name a name
scope...).  editors/vscode/ci.sh runs the same grammar in VS Code's real engine
(vscode-textmate + oniguruma) with vscode-tmgrammar-test.

No node and no network: only the files of the repository.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lark import Lark, Token
from lark.exceptions import UnexpectedInput

from fsl.syntax.lexer import FslIndenter, IndentationError_, normalize_source, prescan, scan_comments
from fsl.syntax.parser import GRAMMAR, parse_module
from fsl.syntax.scanner import FslScanner

from .conftest import ROOT

EXT = ROOT / "editors" / "vscode"
PACKAGE = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
TM = json.loads((EXT / "syntaxes" / "fsl.tmLanguage.json").read_text(encoding="utf-8"))
LANGCONF = json.loads((EXT / "language-configuration.json").read_text(encoding="utf-8"))

# every playbook of the repository, the invalid ones too (up to their first syntax error)
PLAYBOOKS = sorted(p for folder in ("sequences", "tests/fixtures", "editors/vscode/test") for p in (ROOT / folder).rglob("*.fsl"))
# LANGUAGE.md section 2: the keywords of v1.1, highlighted before (and whether or not) the grammar has them.
V11_KEYWORDS = "split variant pick winner by within confidence best time calendar".split()
# A keyword the grammar highlights only in its place, with a line that puts it there.
IN_CONTEXT = {"week": "cap 1 per calendar week", "month": "cap 1 per calendar month"}


# ------------------------------------------------------------ a TextMate tokenizer

@dataclass
class _Frame:
    rule: dict[str, Any]
    end: re.Pattern[str]
    scopes: tuple[str, ...]


@dataclass
class Tokenizer:
    """Line by line, as vscode-textmate does: the earliest match wins, ties go to the first rule."""

    grammar: dict[str, Any]
    stack: list[_Frame] = field(default_factory=list)

    def _rules(self, patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                target = self.grammar if ref == "$self" else self.grammar["repository"][ref.lstrip("#")]
                out += self._rules(target["patterns"]) if "patterns" in target and not (
                    "match" in target or "begin" in target) else [target]
            elif "match" in p or "begin" in p:
                out.append(p)
            else:
                out += self._rules(p["patterns"])
        return out

    def line(self, text: str) -> list[tuple[str, ...]]:
        """The scopes of every character of one line."""
        base = (self.grammar["scopeName"],)
        scopes: list[tuple[str, ...]] = [base] * len(text)
        pos = 0
        for _ in range(4 * len(text) + 16):  # each round moves on or changes the stack: no grammar loops here
            if pos > len(text):
                break
            frame = self.stack[-1] if self.stack else None
            outer = frame.scopes if frame else base
            best: tuple[int, int, re.Match[str], dict[str, Any] | None] | None = None
            if frame is not None and (m := frame.end.search(text, pos)) is not None:
                best = (m.start(), -1, m, None)  # the end wins a tie (no applyEndPatternLast here)
            patterns = frame.rule.get("patterns", []) if frame else self.grammar["patterns"]
            for order, rule in enumerate(self._rules(patterns)):
                m = re.compile(rule.get("match") or rule["begin"]).search(text, pos)
                if m is not None and (best is None or (m.start(), order) < best[:2]):
                    best = (m.start(), order, m, rule)
            if best is None:
                scopes[pos:] = [outer] * (len(text) - pos)
                break
            _, _, m, rule = best
            scopes[pos : m.start()] = [outer] * (m.start() - pos)  # text no rule matched: the frame's scopes
            if rule is None:
                assert frame is not None
                self._paint(scopes, m, outer, frame.rule.get("endCaptures", {}))
                self.stack.pop()
            else:
                inner = outer + ((rule["name"],) if "name" in rule else ())
                self._paint(scopes, m, inner, rule.get("captures", rule.get("beginCaptures", {})))
                if "begin" in rule:
                    self.stack.append(_Frame(rule, re.compile(rule["end"]), inner))
            if m.end() > pos:
                pos = m.end()
            elif rule is not None and "begin" not in rule:
                pos += 1  # an empty match moves on by one character, as the real engine does
            # an empty begin or end changes the stack and stays (the grammar has no empty begin)
        else:
            raise AssertionError(f"the grammar loops on {text!r} at column {pos + 1}")
        return scopes

    @staticmethod
    def _paint(scopes: list[tuple[str, ...]], m: re.Match[str], inner: tuple[str, ...],
               captures: dict[str, Any]) -> None:
        for i in range(m.start(), m.end()):
            scopes[i] = inner
        for group, cap in sorted(captures.items(), key=lambda kv: int(kv[0])):
            start, end = m.span(int(group))
            for i in range(max(start, 0), end):
                scopes[i] = inner + (cap["name"],)


def tokenize(text: str) -> list[list[tuple[str, ...]]]:
    tok = Tokenizer(TM)
    return [tok.line(line) for line in text.split("\n")]


def deepest(scopes: tuple[str, ...]) -> str:
    return scopes[-1]


# ------------------------------------------------------------ lark's tokens

def _lark() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer=FslScanner, postlex=FslIndenter(),
                keep_all_tokens=True, maybe_placeholders=True)


def _prepared(path: Path) -> str:
    text = normalize_source(path.read_text(encoding="utf-8"))
    return prescan(text if text.endswith("\n") else text + "\n")[0]


def _lark_tokens(lark: Lark, text: str) -> list[Token]:
    """The tokens the parser takes, in its context (a soft keyword used as a name is a NAME), up to an error."""
    tokens: list[Token] = []
    try:
        for tok in lark.parse_interactive(text).iter_parse():
            tokens.append(tok)
    except (UnexpectedInput, IndentationError_):
        pass  # a syntax error: the tokens before it were read in their context
    return [t for t in tokens if t.type not in ("_NL", "_INDENT", "_DEDENT")]


LITERAL_SCOPE = {
    "STRING": "string.quoted.double.fsl",
    "DURATION": "constant.numeric.duration.fsl",
    "DATE": "constant.numeric.date.fsl",
    "TIME": "constant.numeric.time.fsl",
    "PERCENT": "constant.numeric.percentage.fsl",
    "NUMBER": "constant.numeric.decimal.fsl",
}
KEYWORD_SCOPES = ("keyword.", "storage.type.", "constant.language.")
NAME_SCOPES = ("entity.name.", "variable.", "support.", "constant.other.outcome.", "constant.language.weekday.",
               "keyword.other.unit.calendar.",
               "invalid.illegal.weekday.")  # a window's unknown day (E104)
DOTTED_SCOPES = ("variable.language.", "variable.other.object.", "variable.other.property.", "punctuation.accessor.")
PUNCT_SCOPES = ("keyword.operator.", "punctuation.")


def _problems(tok: Token, cells: list[tuple[str, ...]]) -> list[str]:
    """What is wrong with the scopes of one lark token's characters."""
    where = f"{tok.line}:{tok.column} {tok.type} {str(tok)!r}"
    if tok.type in LITERAL_SCOPE:
        want = LITERAL_SCOPE[tok.type]
        return [f"{where}: {c}" for c in cells if want not in c][:1]
    if tok.type == "DOTTED":
        return [f"{where}: {deepest(c)}" for c in cells if not deepest(c).startswith(DOTTED_SCOPES)][:1]
    if tok.type == "NAME":
        allowed = NAME_SCOPES
    elif str(tok).isidentifier():
        # a keyword that is also a function (v1.1 `variant(split)`) is highlighted as the function
        allowed = (*KEYWORD_SCOPES, "support.function.builtin.")
    else:
        allowed = PUNCT_SCOPES
    if len(set(cells)) != 1 or not deepest(cells[0]).startswith(allowed):
        return [f"{where}: {sorted(set(map(deepest, cells)))}"]
    return []


def test_there_are_playbooks_to_highlight() -> None:
    assert len(PLAYBOOKS) > 100
    assert any("split" in p.read_text(encoding="utf-8") for p in PLAYBOOKS)


@pytest.fixture(scope="module")
def lark() -> Lark:
    return _lark()


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_token_lark_reads_is_highlighted_as_its_kind(path: Path, lark: Lark) -> None:
    text = _prepared(path)
    lines = tokenize(text)
    problems: list[str] = []
    for tok in _lark_tokens(lark, text):
        assert tok.line is not None and tok.column is not None and tok.end_column is not None
        problems += _problems(tok, lines[tok.line - 1][tok.column - 1 : tok.end_column - 1])
    for c in scan_comments(text):
        cells = lines[c.line - 1][c.column - 1 :]
        problems += [f"{c.line}:{c.column} comment: {deepest(s)}" for s in cells if "comment.line.number-sign.fsl" not in s][:1]
    assert problems == []


def _keywords_of_the_grammar() -> set[str]:
    return set(re.findall(r'"([a-z_]+)"', GRAMMAR.read_text(encoding="utf-8")))


def test_the_grammar_has_keywords_to_check() -> None:
    assert {"playbook", "step", "enroll", "stakeholder", "none"} <= _keywords_of_the_grammar()


@pytest.mark.parametrize("word", sorted(_keywords_of_the_grammar() | set(V11_KEYWORDS)))
def test_every_keyword_is_highlighted_as_a_keyword(word: str) -> None:
    line = IN_CONTEXT.get(word, word)
    start = line.rindex(word)
    cells = tokenize(line)[0][start : start + len(word)]
    assert len(set(cells)) == 1 and deepest(cells[0]).startswith(KEYWORD_SCOPES), cells


@pytest.mark.parametrize(("line", "word", "scope"), [
    ("step recap after 2 days:", "recap", "entity.name.function.step.fsl"),
    ("        goto recap", "recap", "entity.name.function.step.fsl"),
    ("if opened(recap) and not replied(recap):", "recap", "entity.name.function.step.fsl"),
    ("    stop on replied where event.kind == \"human\"", "replied", "entity.name.tag.event.fsl"),
    ("        wait up to 3 days for meeting_booked", "meeting_booked", "entity.name.tag.event.fsl"),
    ("    split t pick winner by replied within 5 days confidence 95%:", "replied", "entity.name.tag.event.fsl"),
    ("if count(login, 30 days) > 3:", "login", "entity.name.tag.event.fsl"),
    ("if variant(subject_test) == \"a\":", "subject_test", "entity.name.section.split.fsl"),
    ("        send email \"recap\"", "email", "support.type.channel.fsl"),
    ("    cap sms 1 per calendar month", "month", "keyword.other.unit.calendar.fsl"),
    ("    skip holidays contact.country default \"US\"", "country", "variable.other.property.fsl"),
    ("    skip holidays contact.country default \"US\"", "contact", "variable.language.fsl"),
    ("    stop when deal.stage == \"lost\"", "deal", "variable.language.fsl"),
    ("    stop on x across deal", "deal", "keyword.other.fsl"),
    ("    window mon-fri 09:00-17:00", "fri", "constant.language.weekday.fsl"),
    ("    send at best time within 4 hours", "at", "keyword.other.fsl"),
    ("    stop on meeting_booked as converted", "converted", "constant.other.outcome.fsl"),
    ("        task call \"Call {{ contact.first_name }}\"", "first_name", "variable.other.property.fsl"),
    ("        task call \"say \\\"hi\\\"\"", "\\\"", "constant.character.escape.fsl"),
    ("        send email \"x\" with tone = \"casual\"", "tone", "variable.parameter.fsl"),
    ("        notify contact.owner \"unterminated", "\"unterminated", "invalid.illegal.unterminated-string.fsl"),
    ("\tstep x:", "\t", "invalid.illegal.tab-indentation.fsl"),
    ("step x:  # a comment", "a comment", "comment.line.number-sign.fsl"),
    ("    step b after 3 business days:", "business", "keyword.other.unit.duration.fsl"),
    ("    wait 2d", "2d", "constant.numeric.duration.fsl"),
])
def test_names_get_the_scope_of_what_they_name(line: str, word: str, scope: str) -> None:
    start = line.index(word)
    cells = tokenize(line)[0][start : start + len(word)]
    assert all(scope in c for c in cells), cells


def test_every_regex_of_the_grammar_compiles_and_every_include_resolves() -> None:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("match", "begin", "end"):
                if key in node:
                    re.compile(node[key])
                    found.append(key)
            if "include" in node and node["include"] != "$self":
                assert node["include"].lstrip("#") in TM["repository"], node["include"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(TM)
    assert len(found) > 30


def _scope_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {v for k, v in node.items() if k in ("name", "contentName") and isinstance(v, str)}
        return own.union(*(_scope_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_scope_names(v) for v in node))
    return set()


GRAMMAR_TESTS = sorted((EXT / "test" / "grammar").glob("*.fsl"))
ASSERTION = re.compile(r"^#\s*(?:\^+|<-+)\s+(?P<scopes>.+)$")


def test_the_grammar_tests_assert_every_scope_and_use_every_keyword() -> None:
    """vscode-tmgrammar-test (ci.sh) checks what test/grammar asserts: it must assert every token kind."""
    assert all(f.read_text(encoding="utf-8").startswith('# SYNTAX TEST "source.fsl"') for f in GRAMMAR_TESTS)
    lines = [ln for f in GRAMMAR_TESTS for ln in f.read_text(encoding="utf-8").split("\n")]
    asserted = {scope for ln in lines if (m := ASSERTION.match(ln)) for scope in m["scopes"].split()}
    assert _scope_names(TM) - {TM["name"]} - asserted == set()
    words = {w for ln in lines if not ln.startswith("#") for w in re.findall(r"[a-z_]+", ln)}
    assert (_keywords_of_the_grammar() | set(V11_KEYWORDS)) - words == set()


# ------------------------------------------------------------ package.json and friends

def test_package_json_contributes_the_language_the_grammar_and_the_configuration() -> None:
    contributes = PACKAGE["contributes"]
    (language,) = contributes["languages"]
    (grammar,) = [g for g in contributes["grammars"] if "language" in g]
    (markdown,) = [g for g in contributes["grammars"] if "injectTo" in g]
    injection = json.loads((EXT / markdown["path"]).read_text(encoding="utf-8"))
    assert injection["scopeName"] == markdown["scopeName"] and '"include": "source.fsl"' in json.dumps(injection)
    assert language["id"] == grammar["language"] == "fsl"
    assert language["extensions"] == [".fsl"] and TM["fileTypes"] == ["fsl"]
    assert grammar["scopeName"] == TM["scopeName"] == "source.fsl"
    assert (EXT / grammar["path"]).resolve() == EXT / "syntaxes" / "fsl.tmLanguage.json"
    assert (EXT / language["configuration"]).resolve() == EXT / "language-configuration.json"
    assert f"onLanguage:{language['id']}" in PACKAGE["activationEvents"]
    settings = contributes["configuration"]["properties"]
    assert settings["fsl.path"]["type"] == "string"
    assert contributes["configurationDefaults"]["[fsl]"]["editor.insertSpaces"] is True  # a tab is E102


def test_tool_versions_are_pinned_and_locked() -> None:
    lock = json.loads((EXT / "package-lock.json").read_text(encoding="utf-8"))
    for section in ("dependencies", "devDependencies"):
        for name, version in PACKAGE.get(section, {}).items():
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} {version} is not pinned"
            assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert lock["packages"][""]["devDependencies"] == PACKAGE["devDependencies"]
    # the API the extension is typed against is the oldest VS Code it claims to run on
    assert PACKAGE["engines"]["vscode"] == "^" + PACKAGE["devDependencies"]["@types/vscode"]


def test_build_output_and_packages_are_not_committed() -> None:
    ignored = (EXT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"node_modules/", "*.vsix", "dist/", "out/"} <= set(ignored)
    shipped = (EXT / ".vscodeignore").read_text(encoding="utf-8").split()
    assert {"src/**", "test/**", "node_modules/**"} <= set(shipped)
    assert (EXT / "ci.sh").stat().st_mode & 0o111


def test_the_comment_token_is_the_grammars() -> None:
    assert LANGCONF["comments"]["lineComment"] == "#"
    assert tokenize("# x")[0][0][-1] == "punctuation.definition.comment.fsl"


def _block_openers(lark: Lark, text: str) -> set[int] | None:
    """The lines that open a block: a ':' token whose line is followed by an indent (None: no parse)."""
    try:
        tree = lark.parse(text)
    except (UnexpectedInput, IndentationError_):
        return None
    toks = list(tree.scan_values(lambda v: isinstance(v, Token)))
    return {t.line for t, nxt in zip(toks, toks[1:], strict=False)
            if t == ":" and nxt.type == "_NL" and t.line is not None}


def test_enter_indents_after_exactly_the_lines_that_open_a_block(lark: Lark) -> None:
    indent = re.compile(LANGCONF["indentationRules"]["increaseIndentPattern"])
    (rule,) = [r for r in LANGCONF["onEnterRules"] if r["action"]["indent"] == "indent"]
    before = re.compile(rule["beforeText"])
    checked = 0
    for path in PLAYBOOKS:
        text = _prepared(path)
        if (openers := _block_openers(lark, text)) is None:
            continue
        for n, line in enumerate(text.split("\n"), start=1):
            assert bool(indent.search(line)) == (n in openers), f"{path.name}:{n}: {line}"
            assert bool(before.search(line)) == (n in openers), f"{path.name}:{n}: {line}"
            checked += n in openers
    assert checked > 200


def test_else_and_elif_go_back_one_level_and_case_does_not() -> None:
    dedent = re.compile(LANGCONF["indentationRules"]["decreaseIndentPattern"])
    assert dedent.search("        else:") and dedent.search("    elif opened(a):  # x")
    assert not dedent.search("        case \"a\":") and not dedent.search("        send email \"else:\"")


def test_enter_outdents_after_goto_and_end_only() -> None:
    (rule,) = [r for r in LANGCONF["onEnterRules"] if r["action"]["indent"] == "outdent"]
    after = re.compile(rule["beforeText"])
    assert after.search("        goto recap") and after.search("            end as converted  # won")
    assert after.search("    end")
    assert not after.search("        send email \"end\"") and not after.search("        set vars.end = 1")
    assert not after.search("        goto_x = 1") and not after.search("    ending")


def _snippet_text(body: str) -> str:
    """A snippet as VS Code inserts it when every placeholder keeps its default."""
    out: list[str] = []
    i = 0
    while i < len(body):
        if m := re.match(r"\$\{\d+([:|])", body[i:]):
            depth, j = 1, i + len(m.group(0))
            while depth:
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                j += 1
            inner = body[i + len(m.group(0)) : j - 1]
            out.append(inner.rstrip("|").split(",")[0] if m.group(1) == "|" else _snippet_text(inner))
            i = j
        elif m := re.match(r"\$\d+", body[i:]):
            i += len(m.group(0))
        else:
            out.append(body[i])
            i += 1
    return "".join(out).replace("\t", "    ")


PLAYBOOK_LEVEL = {"step", "enroll", "cap", "stop", "pause", "window", "let", "skip", "send", "timezone"}


def _in_a_playbook(snippet: str) -> str:
    """A snippet's expansion where it belongs: a playbook, a playbook's line, or a step's line."""
    first = snippet.split()[0]
    if first == "playbook":
        return snippet + "\n"
    lines = snippet.split("\n")
    if first in PLAYBOOK_LEVEL and not snippet.startswith("send email"):
        return "playbook p:\n" + "".join(f"    {ln}\n" for ln in lines) + "    step last:\n        end\n"
    return "playbook p:\n    step s:\n" + "".join(f"        {ln}\n" for ln in lines)


def test_every_snippet_expands_to_fsl_that_parses() -> None:
    snippets = json.loads((EXT / "snippets" / "fsl.json").read_text(encoding="utf-8"))
    assert len(snippets) >= 5
    v11 = "split" in GRAMMAR.read_text(encoding="utf-8")
    for name, snippet in snippets.items():
        text = _in_a_playbook(_snippet_text("\n".join(snippet["body"])))
        if not v11 and re.search(r"\b(split|best time|calendar)\b", text):
            continue  # v1.1 syntax: fsl's parser does not read it yet
        _, diags = parse_module(text, f"<snippet {name}>")
        assert [d for d in diags if d.code.startswith("E1")] == [], (name, text)
