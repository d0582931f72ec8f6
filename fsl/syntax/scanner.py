"""A fast scanner for lark: one compiled regex for every token of FSL.

lark's contextual lexer tries each parser state's terminals in turn; on FSL's
short tokens that costs about a third of parsing.  This scanner matches the
same terminals (grammar/fsl.lark) with one alternation, in the grammar's
priority order, and decides keyword versus name the way the contextual lexer
does: a word that spells a keyword is that keyword unless the parser, in its
current state, accepts a name there and not the keyword (so `each` and `due`
stay usable as names, and a step may be called `due`).

The grammar stays the single source of truth for terminal names: they are read
from the lark instance, never written here.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import cast

from lark.common import LexerConf
from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer, LexerState, Token
from lark.parsers.lalr_parser_state import ParserState

# Same patterns and priorities as grammar/fsl.lark (DURATION.4 > DOTTED/DATE/TIME/PERCENT.3 > NUMBER.2).
_MASTER = re.compile(
    r"""
    (?P<_WS>[ \t]+)
  | (?P<_NL>(?:\r?\n[ \t]*|\#[^\n]*)+)
  | (?P<DURATION>\d+(?:[ \t]+(?:minutes?|hours?|days?|weeks?|business[ \t]+days?)|[mhdw])(?![a-z0-9_]))
  | (?P<DATE>\d{4}-\d{2}-\d{2})
  | (?P<TIME>\d{1,2}:\d{2})
  | (?P<PERCENT>\d+(?:\.\d+)?%)
  | (?P<NUMBER>\d+(?:\.\d+)?)
  | (?P<DOTTED>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)
  | (?P<NAME>[a-z_][a-z0-9_]*)
  | (?P<STRING>"(?:\\.|[^"\\\n])*")
  | (?P<PUNCT>==|!=|<=|>=|[<>=()\[\],:+\-*/])
    """,
    re.VERBOSE,
)


# LANGUAGE.md section 2: these cannot name a playbook, a step or a `let`.
RESERVED = frozenset("""
    playbook step after at day every max cron send task wait up to for if elif else match case
    goto end set let stop pause until on when where as and or not in cap per total enroll reenroll
    never timezone default window skip holidays offer discount expires with description owner
    priority check across deal notify true false none
    split variant pick winner by within confidence""".split()) | frozenset((  # v1.1 (experiments)
        "calendar",  # v1.1: calendar caps
        "best", "time",  # v1.1: send at best time
    ))


class FslScanner(Lexer):
    """A lark `Lexer` (future interface 2): `lex(lexer_state, parser_state)`."""

    __future_interface__ = 2

    def __init__(self, lexer_conf: LexerConf) -> None:
        self.literals: dict[str, str] = {}  # keyword or punctuation text -> terminal name
        for term in lexer_conf.terminals:
            if term.pattern.type == "str":
                self.literals[term.pattern.value] = term.name
        # words of the grammar that LANGUAGE.md does not reserve: keywords only where expected
        self.soft = {w for w in self.literals if w.isidentifier() and w not in RESERVED}

    def lex(self, lexer_state: LexerState, parser_state: ParserState[int] | None) -> Iterator[Token]:
        text_slice = lexer_state.text
        # a TextSlice of the str since lark 1.2 (the str itself before); parsing is of str, never bytes
        text = cast(str, getattr(text_slice, "text", text_slice))
        pos = getattr(text_slice, "start", 0)
        end = getattr(text_slice, "end", len(text))
        line, line_start = 1, 0
        literals = self.literals
        match = _MASTER.match
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise UnexpectedCharacters(text, pos, line, pos - line_start + 1,
                                           state=parser_state.position if parser_state else None)
            kind = cast(str, m.lastgroup)  # every alternative of _MASTER is a named group
            value = m.group()
            start_col = pos - line_start + 1
            if kind == "_WS":
                pos = m.end()
                continue
            if kind == "NAME":
                kind = self._word(value, parser_state)
            elif kind == "PUNCT":
                kind = literals[value]
            start_line, start = line, pos
            pos = m.end()
            if kind == "_NL":
                line += value.count("\n")
                line_start = text.rindex("\n", 0, pos) + 1
            yield Token(kind, value, start, start_line, start_col, line, pos - line_start + 1, pos)

    def _word(self, word: str, parser_state: ParserState[int] | None) -> str:
        keyword = self.literals.get(word)
        if keyword is None:
            return "NAME"
        if word not in self.soft:
            return keyword  # reserved (LANGUAGE.md 2): never a name
        accepts = parser_state.parse_conf.states[parser_state.position] if parser_state else None
        if accepts is not None and keyword not in accepts and "NAME" in accepts:
            return "NAME"
        return keyword
