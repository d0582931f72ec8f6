"""One nesting limit (fsl/syntax/depth.py): every stage handles exactly MAX_DEPTH
levels, and one level more is an E101 at the deepest point.

Each shape below nests blocks or expressions to a given total depth: the step's
body is level 1, so an expression in an `if` right under the step starts at 2.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsl.api import check_project, compile_project
from fsl.fmt import format_source
from fsl.project import Project
from fsl.syntax.depth import MAX_DEPTH
from fsl.syntax.parser import parse_module

from .test_ops_support import at, cli, make_project, populate

HEAD = """\
playbook {name}:
    enroll on signed_up
    stop on unsubscribed
    step a:
"""
SEND = 'send email "hello"'
NAME = "contact.first_name"


def _in_if(cond: str) -> str:
    return f"        if {cond}:\n            {SEND}\n"


def nested_ifs(depth: int) -> str:
    body, indent = "", "        "
    for _ in range(depth - 1):
        body += f"{indent}if {NAME}:\n"
        indent += "    "
    return body + indent + SEND + "\n"


def and_chain(depth: int) -> str:  # `and` nodes 2..depth-1, comparisons at `depth`
    return _in_if(" and ".join([f'{NAME} != "zz"'] * (depth - 1)))


def sum_nest(depth: int) -> str:  # `>` at 2, then right-nested `+`
    k = depth - 2
    return _in_if("(1 + " * k + "1" + ")" * k + " > 0")


def not_chain(depth: int) -> str:
    k = depth - 2  # `not`s above a comparison at `depth`
    cmp = "==" if k % 2 == 0 else "!="
    return _in_if("not " * k + f'{NAME} {cmp} "zz"' if k % 2 else "not " * k + f'{NAME} != "zz"')


def conditionals(depth: int) -> str:  # `==` at 2, conditionals below
    k = depth - 2
    return _in_if("(" + '"y" if contact.first_name else ' * k + '"n") == "y"')


def calls(depth: int) -> str:
    k = depth - 2
    return _in_if("coalesce(" * k + NAME + ", \"x\")" * k + ' != "zz"')


def lists(depth: int) -> str:  # `==` at 2, len() at 3, lists below
    k = depth - 3
    return _in_if("len(" + "[" * k + "1" + "]" * k + ") == 1")


def mixed(depth: int) -> str:  # `if`s down to level `half`, then an `and` chain below
    half = depth // 2
    indent = "        " + "    " * (half - 1)
    cond = " and ".join([f'{NAME} != "zz"'] * (depth - half))
    return nested_ifs(half).replace(SEND, f"if {cond}:\n{indent}    {SEND}")


def let_chain(depth: int) -> str:
    """A `let` as deep as the limit counting the let it uses, used at the deepest `if`.

    Past the limit here is the let chain (the checker's E101), not the blocks.
    """
    lets = f"    let l1 = {'- ' * 24}len(contact.first_name)\n    let l2 = {'- ' * (depth - 25)}l1\n"
    return lets + nested_ifs(MAX_DEPTH).replace(f"if {NAME}:", "if l2 != 0:")


SHAPES = [nested_ifs, and_chain, sum_nest, not_chain, conditionals, calls, lists, mixed, let_chain]
PARSED = [s for s in SHAPES if s is not let_chain]  # the shapes the parser measures


def playbook(shape, depth: int) -> str:
    body = shape(depth)
    lets = "".join(line for line in body.splitlines(True) if line.startswith("    let "))
    return HEAD.format(name=shape.__name__).replace("    step a:", lets + "    step a:") + body[len(lets):]


def measured(text: str) -> int | None:
    """The depth the parser reports one level past the limit (None: accepted)."""
    _, diags = parse_module(text, "deep.fsl")
    deep = [d for d in diags if "nested too deeply" in d.message]
    return int(deep[0].message.split(": ")[1].split()[0]) if deep else None


@pytest.mark.parametrize("shape", PARSED, ids=lambda s: s.__name__)
def test_the_shapes_nest_as_counted(shape) -> None:
    assert measured(playbook(shape, MAX_DEPTH)) is None
    assert measured(playbook(shape, MAX_DEPTH + 1)) == MAX_DEPTH + 1


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_one_level_past_the_limit_is_e101_at_the_deepest_point(shape, tmp_path: Path) -> None:
    path = tmp_path / "deep.fsl"
    path.write_text(playbook(shape, MAX_DEPTH + 1) + "\n" + HEAD.format(name="fine") + f"        {SEND}\n")
    result = check_project([path], Project(None, None))
    (d,) = result.errors
    assert (d.code, d.span.file) == ("E101", str(path)) and str(MAX_DEPTH) in d.message
    if shape is not let_chain:  # the parser drops the playbook; the good one is kept
        assert [pb.name for m in result.modules for pb in m.playbooks] == ["fine"]


def test_the_deepest_point_is_where_the_nesting_is() -> None:
    text = playbook(nested_ifs, MAX_DEPTH + 1)
    _, (d,) = parse_module(text, "deep.fsl")
    last = text.rstrip("\n").split("\n")
    assert (d.span.file, d.span.line, d.span.column) == ("deep.fsl", len(last), last[-1].index("send") + 1)
    text = playbook(sum_nest, MAX_DEPTH + 1)
    _, (d,) = parse_module(text, "deep.fsl")
    line = text.split("\n")[d.span.line - 1]
    assert d.span.column == line.rindex("1 + 1") + 1


def test_far_past_the_limit_is_a_diagnostic_not_a_crash() -> None:
    for text in [HEAD.format(name="p") + _in_if(" and ".join(["true"] * 20000)),
                 HEAD.format(name="p") + _in_if("(" * 20000 + "1" + ")" * 20000 + " > 0"),
                 HEAD.format(name="p") + _in_if("not " * 20000 + "true"),
                 HEAD.format(name="p") + _in_if("-" * 20000 + "1 > 0")]:
        _, diags = parse_module(text, "deep.fsl")
        assert [d.code for d in diags] in (["E101"], []), diags


@pytest.fixture(scope="module")
def deep_project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("deep")
    make_project(folder, playbooks={s.__name__: playbook(s, MAX_DEPTH) for s in SHAPES})
    return folder


def test_check_and_compile_accept_the_limit(deep_project: Path) -> None:
    project = Project.load(deep_project / "fsl.yaml")
    result = compile_project([deep_project / "sequences"], project)
    assert not result.check.errors, result.check.errors
    assert sorted(p.playbook for p in result.plans) == sorted(s.__name__ for s in SHAPES)
    for shape in SHAPES:  # the plan's JSON, hash included, as `fsl compile` writes it
        out = cli("compile", f"sequences/{shape.__name__}.fsl", cwd=deep_project)
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["hash"].startswith("sha256:")


def test_fmt_accepts_the_limit(deep_project: Path) -> None:
    for path in sorted((deep_project / "sequences").glob("*.fsl")):
        once = format_source(path.read_text(), str(path))
        assert format_source(once, str(path)) == once


def test_deploy_and_the_engine_run_the_limit(deep_project: Path) -> None:
    assert cli("deploy", cwd=deep_project).exit_code == 0
    populate(deep_project / "fsl.yaml", 2, deploy=False)
    report = json.loads(cli("tick", "--now", at(), "--no-deliver", "--format", "json", cwd=deep_project).stdout)
    assert report["actions"] == {"send": 2 * len(SHAPES)}, report
