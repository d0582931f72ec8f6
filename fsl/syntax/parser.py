"""Parse FSL source into a `Module` (nodes.py), with syntax diagnostics.

One LALR parser (grammar.py over grammar/fsl.lark) with the indentation
post-lexer; the AST builder (build.py) then turns the parse tree into nodes.
Valid files take the fast path: one parse of the
whole file.  When that fails, the file is cut at its top-level `playbook`
lines and each playbook is parsed on its own, so one syntax error does not
hide the problems of the other playbooks (LANGUAGE.md section 11).
"""
from __future__ import annotations

import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..diagnostics import Diagnostic, Span
from . import nodes as n
from .depth import MAX_DEPTH, TooDeep, too_deep
from .errors import describe_unexpected
from .grammar import GRAMMAR, grammar_parser, lark_parser  # noqa: F401 - GRAMMAR, grammar_parser: the public names
from .lexer import IndentationError_, normalize_source, prescan, scan_comments

_PLAYBOOK_LINE = re.compile(r"^playbook\b", re.M)


def parse_module(text: str, file: str = "<input>") -> tuple[n.Module, list[Diagnostic]]:
    """Parse one file.  Never raises on bad input: problems come back as diagnostics."""
    diags: list[Diagnostic] = []
    text = normalize_source(text)
    if not text.endswith("\n"):
        text += "\n"
    text, tabs = prescan(text)
    for t in tabs:
        diags.append(Diagnostic.make(
            "E102", "a tab in indentation; indent with spaces", Span.point(file, t.line, t.column),
            "replace the tab with spaces (fsl fmt uses 4 per level)"))
    comments = scan_comments(text)
    ok, playbooks, problems = _parse_text(text, file)
    broken: list[str] = []
    if not ok:
        playbooks, broken, problems = _parse_by_playbook(text, file)
    diags.extend(problems)
    if not playbooks and not broken and not any(d.is_error for d in diags):
        diags.append(Diagnostic.make(
            "W409", "this file holds no playbook", Span.point(file, 1, 1),
            "a playbook starts with `playbook NAME:` at the start of a line"))
    broken_lines = {t.line for t in tabs}
    if broken_lines:
        # a playbook with a tab was parsed from a repaired text: treat it as broken too
        for pb in playbooks:
            if any(pb.span.line <= ln <= pb.span.end_line for ln in broken_lines):
                broken.append(pb.name)
    return n.Module(file, tuple(playbooks), comments, tuple(broken)), diags


def _parse_text(text: str, file: str) -> tuple[bool, list[n.Playbook], list[Diagnostic]]:
    lark, builder = lark_parser()
    builder.reset(file)
    try:
        tree = lark.parse(text)
        if deep := too_deep(tree):
            return False, [], [_too_deep(deep, file)]
        result = builder.transform(tree)
    except UnexpectedCharacters as e:
        return False, [], [_bad_character(e, text, file)]
    except UnexpectedToken as e:
        return False, [], [describe_unexpected(e, text, file)]
    except UnexpectedEOF:  # pragma: no cover - lalr reports $END as UnexpectedToken
        return False, [], [Diagnostic.make("E101", "unexpected end of file", _end_span(text, file))]
    except IndentationError_ as e:
        return False, [], [Diagnostic.make("E102", e.message, Span.point(file, e.line, e.column),
                                           "indent each block by the same number of spaces")]
    except RecursionError:
        return False, [], [Diagnostic.make("E101", "this playbook is nested too deeply to read",
                                           Span.point(file, 1, 1), "split the expression with `let`")]
    except UnexpectedInput as e:  # pragma: no cover - any other lark error
        return False, [], [Diagnostic.make("E101", str(e).splitlines()[0], Span.point(file, 1, 1))]
    except Exception as e:  # noqa: BLE001 - a builder bug must not crash `check`
        return False, [], [Diagnostic.make("E101", f"cannot read this playbook ({type(e).__name__}: {e})",
                                           Span.point(file, 1, 1), "please report this as a bug of fsl")]
    return True, result, list(builder.diags)


def _parse_by_playbook(text: str, file: str) -> tuple[list[n.Playbook], list[str], list[Diagnostic]]:
    """Parse each top-level playbook alone; line numbers stay those of the file."""
    starts = [m.start() for m in _PLAYBOOK_LINE.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(text))
    playbooks: list[n.Playbook] = []
    broken: list[str] = []
    diags: list[Diagnostic] = []
    for a, b in zip(starts, starts[1:]):
        chunk = text[a:b]
        if not chunk.strip():
            continue
        # pad with newlines so that lark reports the file's own line numbers
        padded = "\n" * text.count("\n", 0, a) + chunk
        ok, found, problems = _parse_text(padded, file)
        diags.extend(problems)
        if ok:
            playbooks.extend(found)
        else:
            m = re.match(r"playbook\s+([a-z_][a-z0-9_]*)", chunk)
            if m:
                broken.append(m.group(1))
    return playbooks, broken, diags


def _too_deep(deep: TooDeep, file: str) -> Diagnostic:
    return Diagnostic.make(
        "E101", f"nested too deeply: {deep.depth} levels here, at most {MAX_DEPTH} are allowed",
        Span.point(file, deep.line, deep.column),
        "name a part of the condition with `let`, or split the step")


def _bad_character(e: UnexpectedCharacters, text: str, file: str) -> Diagnostic:
    span = Span.point(file, e.line, e.column)
    char = e.char
    if char == '"':
        return Diagnostic.make("E103", "unterminated string: a string must end with \" on the same line",
                               span, "close the string, or write a line break as \\n")
    if char == "\t":
        return Diagnostic.make("E102", "a tab in indentation; indent with spaces", span)
    shown = char if char.isprintable() else repr(char)
    return Diagnostic.make("E101", f"unexpected character '{shown}'", span,
                           "names are lower case letters, digits and _; strings use double quotes")


def _end_span(text: str, file: str) -> Span:
    lines = text.rstrip("\n").split("\n")
    return Span.point(file, len(lines), len(lines[-1]) + 1)
