"""The one-regex scanner (fsl/syntax/scanner.py) against lark's own contextual lexer.

Parsing uses the scanner for speed; the grammar stays the source of truth. On
every playbook of the repository and of the tests' fixtures both must produce
the same tokens (kind, text, line, column) -- or, on a file that does not
parse, fail at the same place.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark, Token
from lark.exceptions import UnexpectedInput

from fsl.syntax.lexer import FslIndenter, IndentationError_, normalize_source, prescan
from fsl.syntax.parser import GRAMMAR
from fsl.syntax.scanner import FslScanner

from .conftest import ROOT

PLAYBOOKS = sorted(p for folder in ("sequences", "tests/fixtures") for p in (ROOT / folder).rglob("*.fsl"))


def _lark(lexer) -> Lark:
    # keep_all_tokens: the tree keeps every token, the filtered ones included
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer=lexer, postlex=FslIndenter(),
                keep_all_tokens=True, maybe_placeholders=True)


@pytest.fixture(scope="module")
def lexers() -> tuple[Lark, Lark]:
    return _lark("contextual"), _lark(FslScanner)


def _tokens(lark: Lark, text: str) -> tuple:
    try:
        tree = lark.parse(text)
    except UnexpectedInput as e:
        return ("error", e.line, e.column)
    except IndentationError_ as e:  # raised by the post-lexer, on the tokens it was given
        return ("indentation", e.line, e.column)
    return tuple((t.type, str(t), t.line, t.column)
                 for t in tree.scan_values(lambda v: isinstance(v, Token)))


def _prepared(path: Path) -> str:
    # what parse_module hands the parser: LF line endings, tabs reported and expanded
    text = normalize_source(path.read_text())
    return prescan(text if text.endswith("\n") else text + "\n")[0]


def test_there_are_playbooks_to_compare() -> None:
    assert len(PLAYBOOKS) > 100


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_scanner_gives_the_tokens_of_larks_lexer(path: Path, lexers) -> None:
    stock, fast = lexers
    text = _prepared(path)
    expected = _tokens(stock, text)
    assert _tokens(fast, text) == expected
    if path.parent.name in ("valid", "fmt") or path.parent == ROOT / "sequences":
        assert expected[0] not in ("error", "indentation")  # the comparison covered whole files, not only failures
