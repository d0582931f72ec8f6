"""Parse FSL source into a `Module` (nodes.py), with syntax diagnostics.

One LALR parser (grammar.py over grammar/fsl.lark) with the indentation
post-lexer; the AST builder (build.py) then turns the parse tree into nodes.
Valid files take the fast path: one parse of the
whole file.  When that fails, the file is cut at its top-level `playbook`
lines and each playbook is parsed on its own, so one syntax error does not
hide the problems of the other playbooks (LANGUAGE.md section 11).  Inside
a broken playbook, recovery.py blanks the bad line and parses again, so the
problems further down the same playbook are found too (its AST is kept in
`Module.recovered` for the checker; compile and fmt still refuse it).
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
from .recovery import Culprit, Repair

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
    recovered: list[n.Recovered] = []
    if not ok:
        playbooks, broken, problems, recovered = _parse_by_playbook(text, file)
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
    return n.Module(file, tuple(playbooks), comments, tuple(broken), tuple(recovered)), diags


def _parse_text(text: str, file: str) -> tuple[bool, list[n.Playbook], list[Diagnostic]]:
    ok, found, problems, _ = parse_once(text, file)
    return ok, found, problems


def parse_once(text: str, file: str) -> tuple[bool, list[n.Playbook], list[Diagnostic], Culprit | None]:
    """One parse; on failure, the diagnostic and where recovery should cut."""
    lark, builder = lark_parser()
    builder.reset(file)
    try:
        tree = lark.parse(text)
        if deep := too_deep(tree):
            # no recovery: a playbook this deep is generated, not half-typed
            return False, [], [_too_deep(deep, file)], None
        result = builder.transform(tree)
    except UnexpectedCharacters as e:
        return False, [], [_bad_character(e, text, file)], Culprit(e.line)
    except UnexpectedToken as e:
        return False, [], [describe_unexpected(e, text, file)], _culprit_of(e)
    except UnexpectedEOF:  # pragma: no cover - lalr reports $END as UnexpectedToken
        return False, [], [Diagnostic.make("E101", "unexpected end of file", _end_span(text, file))], None
    except IndentationError_ as e:
        return False, [], [Diagnostic.make("E102", e.message, Span.point(file, e.line, e.column),
                                           "indent each block by the same number of spaces")], Culprit(e.line, "indent")
    except RecursionError:
        return False, [], [Diagnostic.make("E101", "this playbook is nested too deeply to read",
                                           Span.point(file, 1, 1), "split the expression with `let`")], None
    except UnexpectedInput as e:  # pragma: no cover - any other lark error
        return False, [], [Diagnostic.make("E101", str(e).splitlines()[0], Span.point(file, 1, 1))], None
    except Exception as e:  # noqa: BLE001 - a builder bug must not crash `check`
        return False, [], [Diagnostic.make("E101", f"cannot read this playbook ({type(e).__name__}: {e})",
                                           Span.point(file, 1, 1), "please report this as a bug of fsl")], None
    return True, result, list(builder.diags), None


def _culprit_of(e: UnexpectedToken) -> Culprit | None:
    tok = e.token
    if tok.type == "_INDENT":
        return Culprit(tok.end_line or tok.line or 0, "indent")
    if tok.type in ("_DEDENT", "$END") or tok.line is None:
        # a block that never came, or a line cut short at the end: the line before
        line = tok.end_line or tok.line
        return Culprit(line + 1 if line is not None else 10**9, "previous")
    if "_INDENT" in set(e.expected) and tok.type != "_NL":
        return Culprit(tok.line, "previous")  # `step a:` and then no indented block
    return Culprit(tok.line)


def _parse_by_playbook(text: str, file: str) -> tuple[list[n.Playbook], list[str], list[Diagnostic],
                                                       list[n.Recovered]]:
    """Parse each top-level playbook alone; line numbers stay those of the file."""
    starts = [m.start() for m in _PLAYBOOK_LINE.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(text))
    playbooks: list[n.Playbook] = []
    broken: list[str] = []
    diags: list[Diagnostic] = []
    recovered: list[n.Recovered] = []
    for a, b in zip(starts, starts[1:]):
        chunk = text[a:b]
        if not chunk.strip():
            continue
        # pad with newlines so that lark reports the file's own line numbers
        first_line = text.count("\n", 0, a) + 1
        padded = "\n" * (first_line - 1) + chunk
        ok, found, problems, culprit = parse_once(padded, file)
        diags.extend(problems)
        if ok:
            playbooks.extend(found)
            continue
        m = re.match(r"playbook\s+([a-z_][a-z0-9_]*)", chunk)
        if not m:
            continue
        broken.append(m.group(1))
        again = recover_playbook(padded, first_line, culprit, {d.span.line for d in problems}, file)
        if again is not None:
            found, more, info = again
            diags.extend(more)
            playbooks.extend(found)
            recovered.append(info)
    return playbooks, broken, diags, recovered


def recover_playbook(padded: str, first_line: int, culprit: Culprit | None, reported: set[int],
             file: str) -> tuple[list[n.Playbook], list[Diagnostic], n.Recovered] | None:
    """Blank bad lines until the playbook parses: its AST and the further syntax errors found."""
    repair = Repair(padded.split("\n"), first_line)
    diags: list[Diagnostic] = []
    while culprit is not None and repair.repair(culprit):
        ok, found, problems, culprit = parse_once(repair.text, file)
        if ok:
            if len(found) != 1:
                return None
            pb = found[0]
            last = max(first_line, len(padded.rstrip("\n").split("\n")))
            return found, diags + problems, n.Recovered(
                pb.name, first_line, last, repair.blanked, frozenset(repair.hidden))
        for d in problems:
            # a line already cut cannot be wrong twice; nor is one error worth two messages
            if d.span.line not in repair.state and d.span.line not in reported:
                reported.add(d.span.line)
                diags.append(d)
    return None


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
