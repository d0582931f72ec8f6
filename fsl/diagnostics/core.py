"""The Diagnostic value and the registry of codes (LANGUAGE.md section 11).

Every stage reports problems as `Diagnostic` values; emitters (one module per
output format) turn a list of them into text, JSON, GitHub annotations or SARIF.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns are 1-based, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(file: str, line: int, column: int, length: int = 1) -> "Span":
        return Span(file, line, column, line, column + max(length, 1))


# code -> (severity, short title).  The title names the rule in SARIF and docs.
CODES: dict[str, tuple[Severity, str]] = {
    "E001": ("error", "unreadable input (file, config or template)"),
    "E002": ("error", "malformed project file fsl.yaml"),
    "E101": ("error", "syntax error"),
    "E102": ("error", "bad indentation"),
    "E103": ("error", "unterminated string"),
    "E104": ("error", "malformed or out-of-range literal"),
    "E201": ("error", "unknown step name"),
    "E202": ("error", "duplicate step name"),
    "E203": ("error", "duplicate playbook name"),
    "E204": ("error", "unknown field"),
    "E205": ("error", "type mismatch"),
    "E206": ("error", "value is not a member of the enum"),
    "E207": ("error", "unknown event"),
    "E208": ("error", "unknown channel"),
    "E209": ("error", "unknown template"),
    "E210": ("error", "template uses an undeclared variable"),
    "E211": ("error", "unknown link tag"),
    "E212": ("error", "unknown function or wrong number of arguments"),
    "E213": ("error", "invalid time-zone name"),
    "E214": ("error", "invalid cron expression"),
    "E215": ("error", "unknown holiday country code"),
    "E216": ("error", "a setting given twice"),
    "E217": ("error", "renderer: llm templates need an llm block in fsl.yaml"),
    "E218": ("error", "an email template with no subject"),
    "E301": ("error", "can send email/sms but has no `stop on unsubscribed`"),
    "E302": ("error", "a goto loop with no positive delay"),
    "E303": ("error", "offer deeper than `offer max`, or no `offer max`"),
    "E304": ("error", "`at day` steps whose days go backwards"),
    "E305": ("error", "an empty window"),
    "E306": ("error", "a split's percentages do not add up to 100%"),
    "E307": ("error", "a split with fewer than two variants, a name used twice, or an unknown split"),
    "W401": ("warning", "a step that can never run"),
    "W402": ("warning", "a condition that can never hold"),
    "W403": ("warning", "caps force a step to be deferred every time"),
    "W404": ("warning", "sends email with no window"),
    "W405": ("warning", "sends email with no `stop on bounced`"),
    "W406": ("warning", "`every` without `max`"),
    "W407": ("warning", "an unguarded comparison with a value that can be none"),
    "W408": ("warning", "no project file: fields, events, templates and channels were not checked"),

    "W409": ("warning", "a file holds no playbook"),
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    help: str | None = None
    severity: Severity = field(default="error")

    @staticmethod
    def make(code: str, message: str, span: Span, help: str | None = None) -> "Diagnostic":
        severity = CODES[code][0]
        return Diagnostic(code, message, span, help, severity)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        s = self.span
        return (s.file, s.line, s.column, self.code, self.message)

    def to_json(self) -> dict[str, str | int | None]:
        s = self.span
        return {
            "file": s.file,
            "line": s.line,
            "column": s.column,
            "end_line": s.end_line,
            "end_column": s.end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "help": self.help,
        }


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt name, or None (difflib, as rustc's heuristics)."""
    import difflib

    found = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return found[0] if found else None
