"""Syntax error messages in the words of a playbook author.

lark reports the set of terminals it expected; an author wants to read
"expected ':' after 'step a'", not "Expected one of: COLON".  We name each
terminal as a person would, and say what came just before the error.
"""
from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedToken

from ..diagnostics import Diagnostic, Span
from .grammar import lark_parser

# What each named terminal is, for a reader.
_WORDS = {
    "NAME": "a name",
    "DOTTED": "a field such as contact.tier",
    "STRING": 'a string in double quotes',
    "NUMBER": "a number",
    "PERCENT": "a percentage such as 10%",
    "DURATION": "a duration such as 2 days",
    "TIME": "a time of day such as 09:00",
    "DATE": "a date such as 2026-12-24",
    "_NL": "the end of the line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
}

# Terminals that can start an expression: shown as one word when all are expected.
_EXPR_START = {"DOTTED", "NAME", "STRING", "NUMBER", "PERCENT", "DURATION", "TIME", "DATE", "LPAR", "LSQB"}


def _literal(name: str) -> str | None:
    try:
        term = lark_parser()[0].get_terminal(name)
    except KeyError:
        return None
    pattern = term.pattern
    if pattern.type == "str":
        return pattern.value
    return None


def word_for(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    lit = _literal(name)
    return f"'{lit}'" if lit is not None else name.lower()


def describe_token(tok: Token) -> str:
    if tok.type == "_NL":
        return "the end of the line"
    if tok.type == "_INDENT":
        return "an indented line"
    if tok.type == "_DEDENT":
        return "the end of the block"
    if tok.type == "$END":
        return "the end of the file"
    return f"'{tok}'"


def _expected_words(expected: set[str]) -> str:
    names = set(expected)
    parts: list[str] = []
    if len(names & _EXPR_START) >= 5:
        parts.append("a value or an expression")
        names -= _EXPR_START | {"MINUS", "NOT", "TRUE", "FALSE", "NONE"}
    words = sorted({word_for(x) for x in names}, key=lambda w: (not w.startswith("'"), w))
    parts.extend(words)
    if not parts:
        return "something else"
    if len(parts) > 8:
        return ", ".join(parts[:8]) + " or another keyword"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _previous(e: UnexpectedToken) -> str | None:
    """The words just before the error, e.g. 'step a' or 'stop', from the parser's stack."""
    ip = getattr(e, "interactive_parser", None)
    if ip is None:
        return None
    stack = ip.parser_state.value_stack
    toks: list[str] = []
    for item in reversed(stack[-3:]):
        if not isinstance(item, Token) or item.type in ("_NL", "_INDENT", "_DEDENT"):
            break
        toks.append(str(item))
    if not toks:
        return None
    return " ".join(reversed(toks[:2]))


def _position(tok: Token, text: str, file: str) -> Span:
    line, column = tok.line, tok.column
    if tok.type == "$END" or line is None or column is None:
        lines = text.rstrip("\n").split("\n")
        return Span.point(file, len(lines), len(lines[-1]) + 1)
    if tok.type in ("_INDENT", "_DEDENT"):
        # these borrow the newline's position; the problem is on the next line
        indent = len(str(tok).expandtabs(4))
        return Span.point(file, tok.end_line or line, indent + 1)
    return Span(file, line, column, tok.end_line or line,
                (tok.end_column or column + 1) if tok.type != "_NL" else column + 1)


def describe_unexpected(e: UnexpectedToken, text: str, file: str) -> Diagnostic:
    tok = e.token
    expected = set(e.expected)
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:  # the terminals the parser really accepts here (lark adds the newline always)
            expected = set(ip.accepts()) or expected
        except Exception:  # noqa: BLE001 - pragma: no cover - accepts() replays the parser; never fatal
            pass
    span = _position(tok, text, file)
    if "DURATION" in expected and tok.type == "NUMBER":
        return Diagnostic.make("E104", f"a duration needs a unit: {tok} days, {tok} hours, ...", span,
                               "units: minutes, hours, days, business days, weeks (or 30m, 4h, 2d, 1w)")
    if "TIME" in expected and tok.type == "NUMBER":
        return Diagnostic.make("E104", f"a time of day is written HH:MM, not {tok}", span,
                               "for example 09:00")
    before = _previous(e)
    message = f"expected {_expected_words(expected)}"
    if before:
        message += f" after '{before}'"
    message += f", found {describe_token(tok)}"
    help_ = None
    if expected == {"COLON"} or ("COLON" in expected and tok.type == "_NL"):
        help_ = "a step, `if`, `elif`, `else`, `match` or `case` line ends with ':' and opens an indented block"
    elif tok.type == "_INDENT":
        help_ = "this line is indented more than the line before, which does not open a block"
    elif str(tok) in _KEYWORDS and "NAME" in expected:
        help_ = f"'{tok}' is a keyword and cannot be used as a name"
    return Diagnostic.make("E101", message, span, help_)


from .scanner import RESERVED as _KEYWORDS  # noqa: E402 - one list of reserved words
