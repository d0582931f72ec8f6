"""The documentation's examples run against the code, so the docs cannot drift.

- docs/reference/diagnostics.md: each wrong example (a fenced block after a
  `<!-- check: CODE [file=PATH] [config=NAME|none] -->` marker) is checked in a
  project made from tests/fixtures/docs/; it must give exactly that code, and
  the `text` block shown after it must be what `fsl check` prints.
- docs/cookbook/: every page names a playbook of sequences/ whose scenario
  passes `fsl test`.
- docs/reference/cli.md: every command of `fsl` is rendered by mkdocs-click.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fsl.cli.main import main as fsl_main
from fsl.diagnostics.core import CODES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DIAGNOSTICS = DOCS / "reference" / "diagnostics.md"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "docs"

EXAMPLE = re.compile(
    r"<!-- check: (?P<code>[EW]\d{3})(?P<attrs>[^>]*)-->\n```\w*\n(?P<body>.*?)```\n"
    r"\n`fsl check` says:\n\n```text\n(?P<says>.*?)```\n",
    re.S,
)
# the playbook checked when the example is a template or the project file
USES_TEMPLATE = """playbook uses_template:
    enroll on trial_started
    window weekdays 09:00-17:00
    stop on unsubscribed
    stop on bounced
    step a:
        send email "{name}"
"""


@dataclass(frozen=True)
class Example:
    code: str
    file: str
    config: str
    body: str
    says: str


def examples(text: str) -> list[Example]:
    found = []
    for m in EXAMPLE.finditer(text):
        attrs = dict(a.split("=", 1) for a in m["attrs"].split())
        found.append(Example(m["code"], attrs.get("file", "example.fsl"), attrs.get("config", "fsl.yaml"),
                             m["body"], m["says"]))
    return found


def run_example(ex: Example, where: Path) -> tuple[set[str], str]:
    """The codes `fsl check` gives for the example, and its text output."""
    if ex.config != "none":
        shutil.copytree(FIXTURE / "templates", where / "templates")
        shutil.copy(FIXTURE / ex.config, where / "fsl.yaml")
    (where / ex.file).parent.mkdir(parents=True, exist_ok=True)
    (where / ex.file).write_text(ex.body)
    target = ex.file
    if not ex.file.endswith(".fsl"):
        name = Path(ex.file).stem if ex.file.startswith("templates/") else "hello"
        (where / "example.fsl").write_text(USES_TEMPLATE.format(name=name))
        target = "example.fsl"

    def check(fmt: str) -> str:
        return subprocess.run([sys.executable, "-m", "fsl", "check", "--format", fmt, target], cwd=where,
                              capture_output=True, text=True, timeout=120).stdout

    codes = {d["code"] for d in json.loads(check("json"))["diagnostics"]}
    # the project file is named by its absolute path: show it as the reader's `fsl.yaml`
    return codes, check("text").replace(f"{where.resolve()}/", "").replace(f"{where}/", "")


ALL = examples(DIAGNOSTICS.read_text(encoding="utf-8"))


def test_every_code_fsl_check_can_emit_has_one_example() -> None:
    documented = [ex.code for ex in ALL]
    assert sorted(documented) == sorted(set(documented)), "a code with two examples"
    assert set(documented) == set(CODES)


@pytest.mark.parametrize("ex", ALL, ids=[ex.code for ex in ALL])
def test_example_gives_its_code_and_the_message_shown(ex: Example, tmp_path: Path) -> None:
    codes, text = run_example(ex, tmp_path)
    assert codes == {ex.code}
    assert text == ex.says


COOKBOOK = sorted((DOCS / "cookbook").glob("*.md"))


def test_the_cookbook_has_pages() -> None:
    assert len([p for p in COOKBOOK if p.name != "index.md"]) >= 8


@pytest.mark.parametrize("page", [p for p in COOKBOOK if p.name != "index.md"], ids=lambda p: p.stem)
def test_cookbook_page_names_a_tested_playbook(page: Path) -> None:
    names = set(re.findall(r"sequences/(\w+)\.fsl", page.read_text(encoding="utf-8")))
    assert names, f"{page.name} names no playbook of sequences/"
    for name in names:
        assert (ROOT / "sequences" / f"{name}.fsl").is_file(), name
        scenario = ROOT / "sequences" / "scenarios" / f"{name}.yaml"
        proc = subprocess.run([sys.executable, "-m", "fsl", "test", str(scenario)], cwd=ROOT / "sequences",
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_reference_renders_every_command() -> None:
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    rendered = set(re.findall(r":prog_name: fsl (\w+)", page))
    assert rendered == set(fsl_main.list_commands(None))  # type: ignore[arg-type]


def fill_messages(text: str, where: Path) -> str:
    """Replace each `MESSAGE` placeholder after an example with what `fsl check` says (for authors)."""
    marker = re.compile(r"(<!-- check: (?P<code>[EW]\d{3})(?P<attrs>[^>]*)-->\n```\w*\n(?P<body>.*?)```\n)\nMESSAGE\n", re.S)

    def one(m: re.Match[str]) -> str:
        attrs = dict(a.split("=", 1) for a in m["attrs"].split())
        ex = Example(m["code"], attrs.get("file", "example.fsl"), attrs.get("config", "fsl.yaml"), m["body"], "")
        sub = where / ex.code
        sub.mkdir()
        _, says = run_example(ex, sub)
        return f"{m[1]}\n`fsl check` says:\n\n```text\n{says}```\n"

    return marker.sub(one, text)


TITLED = re.compile(r'```\w+ title="(?P<file>[^" ]+)(?P<append> \(appended\))?"\n(?P<body>.*?)```\n', re.S)


def test_the_tutorial_project_checks_clean_and_its_scenario_passes(tmp_path: Path) -> None:
    """The files of docs/tutorial.md, written out as a reader would, then its commands."""
    for m in TITLED.finditer((DOCS / "tutorial.md").read_text(encoding="utf-8")):
        path = tmp_path / m["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if m["append"] else "w", encoding="utf-8") as f:
            f.write(m["body"])
    assert (tmp_path / "after_demo.fsl").is_file() and "expect:" in (tmp_path / "scenarios/after_demo.yaml").read_text()

    def fsl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fsl", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    check = fsl("check", "--strict")
    assert (check.returncode, check.stdout) == (0, "0 errors, 0 warnings in 1 file\n"), check.stderr
    test = fsl("test", "scenarios/")
    assert test.returncode == 0 and "1 passed, 0 failed" in test.stdout, test.stdout + test.stderr


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))], ids=lambda p: p.name)
def test_links_stay_inside_the_repository_and_resolve(page: Path) -> None:
    for m in LINK.finditer(page.read_text(encoding="utf-8")):
        target = m["target"]
        assert not re.match(r"[a-z]+:", target), f"{page.name} links outside the repository: {target}"
        path = target.split("#", 1)[0]
        if path:
            assert (page.parent / path).resolve().exists(), f"{page.name}: {target} does not exist"


def _words(page: str) -> set[str]:
    return set(re.findall(r"[a-z_]+", (DOCS / "reference" / page).read_text(encoding="utf-8")))


def test_the_language_page_names_every_keyword_of_the_grammar() -> None:
    grammar = (ROOT / "fsl" / "grammar" / "fsl.lark").read_text(encoding="utf-8")
    assert set(re.findall(r'"([a-z_]+)"', grammar)) - _words("language.md") == set()


def test_the_project_file_page_names_every_key_of_fsl_yaml() -> None:
    from fsl.channel_settings import SETTINGS_MODELS, RetrySettings
    from fsl.config import Config, LLMConfig

    keys = {f.alias or n for n, f in Config.model_fields.items() if n not in ("path", "root")}
    keys |= {f.alias or n for n, f in LLMConfig.model_fields.items() if n != "timeout_seconds"} | {"timeout"}
    for model in (*SETTINGS_MODELS.values(), RetrySettings):
        keys |= {f.alias or n for n, f in model.model_fields.items()}
    keys |= set(SETTINGS_MODELS)
    assert keys - _words("project-file.md") == set()
