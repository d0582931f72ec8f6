"""Attach the comments of a file to the lines the printer writes.

The parser keeps comments apart from the tree (Module.comments: line, column,
text, own_line), so the formatter must decide whom each one belongs to before
it re-orders settings and re-flows lines.  Every statement or block header is
an *anchor*, keyed by the source line it starts on (node.span.line): the
playbook line, settings, steps, actions, and the `if`/`elif`/`else`/`match`/
`case` headers.  The rules, in the order they are tried:

1. A comment after code on a line, or on its own line inside a statement that
   runs over several lines (an expression continued in `(...)`/`[...]`),
   belongs to that statement.  If it is the statement's only such comment and
   sits after code, it stays a trailing comment (`code  # text`); otherwise
   (the statement is printed on one line, and a line holds one comment) they
   all go above the statement, in source order.
2. A comment on its own line, between two anchors, belongs to the end of a
   block that closes there if it is indented at least as deep as that block's
   body (innermost block first): it stays at the end of that block.
3. Otherwise it belongs to the next anchor and moves with it (so a comment
   above a setting follows the setting when the settings are sorted).
4. After the last anchor and shallower than every block: the end of the file.
5. Before the first playbook: the run of comments directly above the
   `playbook` line (no blank line between) belongs to the playbook; the ones
   above a blank line are the file's header, kept at the top as paragraphs.

Blank lines are not kept anywhere else: the printer decides them.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field

from ..diagnostics import Span
from ..syntax import nodes as n
from ..syntax.lexer import normalize_source

PARAGRAPH = ""  # in `Attached.header`: a blank line between comment paragraphs


@dataclass
class Attached:
    """Comment texts (each starting with '#') by where the printer writes them."""

    header: list[str] = field(default_factory=list)
    leading: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    trailing: dict[int, str] = field(default_factory=dict)
    block_end: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    file_end: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Anchor:
    line: int
    column: int
    parents: tuple[int, ...]  # anchor lines of the enclosing block headers, outermost first


def normalize(source: str) -> str:
    """The text whose line numbers the parser reports (parser.parse_module)."""
    return normalize_source(source)


def attach(module: n.Module, source: str) -> Attached:
    anchors, body_column = anchors_of(module)
    lines = normalize(source).split("\n")
    statement_of = statement_starts(lines)
    starts = [a.line for a in anchors]
    by_line = {a.line: a for a in anchors}
    att = Attached()
    inner: dict[int, list[n.Comment]] = defaultdict(list)
    before_first: list[n.Comment] = []

    for c in sorted(module.comments, key=lambda c: (c.line, c.column)):
        text = "#" + c.text
        start = statement_of.get(c.line)
        if start in by_line:  # rule 1
            inner[start].append(c)
            continue
        i = bisect_left(starts, c.line)
        prev = anchors[i - 1] if i > 0 else None
        nxt = anchors[i] if i < len(anchors) else None
        if prev is None:
            before_first.append(c)
            continue
        closing = [b for b in reversed(prev.parents) if nxt is None or b not in nxt.parents]
        for block in closing:  # rule 2
            if c.column >= body_column[block]:
                att.block_end[block].append(text)
                break
        else:
            if nxt is not None:  # rule 3
                att.leading[nxt.line].append(text)
            else:  # rule 4
                att.file_end.append(text)

    _split_header(before_first, anchors[0].line if anchors else None, lines, att)

    for line, found in inner.items():
        if len(found) == 1 and not found[0].own_line:
            att.trailing[line] = "#" + found[0].text
        else:
            att.leading[line].extend("#" + c.text for c in found)
    return att


def _split_header(comments: list[n.Comment], first: int | None, lines: list[str], att: Attached) -> None:
    """Rule 5: the file's header paragraphs and the first playbook's own comments."""
    if not comments:
        return
    own = []
    if first is not None:
        expected = first - 1
        for c in reversed(comments):
            if c.line != expected:
                break
            own.append(c)
            expected -= 1
        own.reverse()
    header = comments[: len(comments) - len(own)]
    for k, c in enumerate(header):
        if k and any(not lines[ln - 1].strip() for ln in range(header[k - 1].line + 1, c.line)):
            att.header.append(PARAGRAPH)
        att.header.append("#" + c.text)
    if own:
        att.leading[first].extend("#" + c.text for c in own)  # type: ignore[index]


def statement_starts(lines: list[str]) -> dict[int, int]:
    """Map each line of a statement to the line the statement starts on.

    A statement continues on the next lines while a `(` or `[` is open
    (LANGUAGE.md section 2).  Blank and comment-only lines outside brackets
    belong to no statement.
    """
    out: dict[int, int] = {}
    depth = 0
    start = 0
    for number, line in enumerate(lines, start=1):
        code = _code(line)
        if depth == 0:
            if not code.strip():
                continue
            start = number
        out[number] = start
        depth = max(0, depth + sum(code.count(ch) for ch in "([") - sum(code.count(ch) for ch in ")]"))
    return out


def _code(line: str) -> str:
    """The line without its comment and with string contents blanked out."""
    out = []
    in_str = escaped = False
    for ch in line:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
                out.append(ch)
            continue
        if ch == "#":
            break
        if ch == '"':
            in_str = True
        out.append(ch)
    return "".join(out)


# ------------------------------------------------------------------ anchors

def anchors_of(module: n.Module) -> tuple[list[Anchor], dict[int, int]]:
    """Every anchor in source order, and the body column of every block header."""
    anchors: list[Anchor] = []
    body_column: dict[int, int] = {}

    def walk(owners: list[_Owner], parents: tuple[int, ...]) -> None:
        for span, children in owners:
            anchors.append(Anchor(span.line, span.column, parents))
            if children:
                body_column[span.line] = children[0][0].column
                walk(children, parents + (span.line,))

    walk([(pb.span, [(it.span, _owners(it.body) if isinstance(it, n.Step) else None) for it in pb.items])
          for pb in module.playbooks], ())
    anchors.sort(key=lambda a: a.line)
    return anchors, body_column


# a line owner: (span, the owners of the block it opens, or None)
_Owner = tuple[Span, "list[_Owner] | None"]


def _owners(body: tuple[n.Action, ...]) -> list[_Owner]:
    """The line owners of a block: (span, the owners of the block it opens, or None)."""
    out: list[_Owner] = []
    for a in body:
        if isinstance(a, n.If):
            out += [(br.span, _owners(br.body)) for br in a.branches]
            if a.orelse is not None:
                assert a.else_span is not None, "the parser sets else_span with orelse"
                out.append((a.else_span, _owners(a.orelse)))
        elif isinstance(a, n.Match):
            cases: list[_Owner] = [(c.span, _owners(c.body)) for c in a.cases]
            if a.orelse is not None:
                assert a.else_span is not None, "the parser sets else_span with orelse"
                cases.append((a.else_span, _owners(a.orelse)))
            out.append((a.span, cases))
        elif isinstance(a, n.Split):
            out.append((a.span, [(v.span, _owners(v.body)) for v in a.variants]))
        else:
            out.append((a.span, None))
    return out


__all__ = ["Attached", "Anchor", "PARAGRAPH", "attach", "anchors_of", "statement_starts", "normalize"]
