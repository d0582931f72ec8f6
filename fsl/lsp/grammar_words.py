"""The keywords the grammar accepts at a point, from the LALR parser itself.

The playbook's text up to the cursor is fed to lark's interactive parser,
followed by a sentinel word where the cursor is; the terminals the parser
accepts in that state are exactly what may come next.  A line above with a
syntax error stops the feed: then a minimal playbook of the same nesting
(the `playbook` line, a step when the cursor is inside one) stands in.
"""
from __future__ import annotations

from lark.exceptions import LarkError

from ..syntax.errors import _literal
from ..syntax.grammar import lark_parser
from ..syntax.lexer import IndentationError_

_SENTINEL = "zzcursorzz"


def accepted_keywords(before: str) -> list[str] | None:
    """Keywords accepted after `before` (a playbook's text up to the cursor's word); None if unknown."""
    lark, _ = lark_parser()
    try:
        ip = lark.parse_interactive(before + _SENTINEL)
        for tok in ip.lexer_thread.lex(ip.parser_state):
            if tok.value == _SENTINEL:
                break
            ip.feed_token(tok)
        accepted = ip.accepts()
    except (LarkError, IndentationError_, RecursionError, ValueError):
        return None  # the text before the cursor does not read: the caller tries a stand-in
    words = {_literal(name) for name in accepted}
    return sorted(w for w in words if w and w.isalpha())


def stand_in(indent: int, line_prefix: str) -> str:
    """The smallest playbook text that puts the cursor at the same nesting."""
    head = "playbook p:\n"
    if indent > 4:
        head += "    step s:\n"
    if indent > 8:
        head += "        if x:\n"
    return head + line_prefix
