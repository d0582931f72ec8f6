"""Diagnostics as SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

Every code of the registry is declared as a rule (not only those that fired)
so that rule indexes are stable from run to run and viewers can show the
whole rule set.  Columns are counted in Unicode code points, as the checker
counts them, and the run says so (`columnKind`), since SARIF's default
assumption would be UTF-16 code units.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from .core import CODES, Diagnostic

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_RULE_IDS: list[str] = list(CODES)
_RULE_INDEX: dict[str, int] = {code: i for i, code in enumerate(_RULE_IDS)}


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": code,
            "shortDescription": {"text": title},
            "defaultConfiguration": {"level": severity},
        }
        for code, (severity, title) in CODES.items()
    ]


def _uri(path: str) -> str:
    """A relative URI reference for a file path: forward slashes, unsafe characters %-encoded."""
    return quote(path.replace("\\", "/"), safe="/:@!$&'()*+,;=-._~")


def _message(d: Diagnostic) -> str:
    """The message, then the help as a second sentence."""
    if not d.help:
        return d.message
    head = d.message if d.message.endswith((".", "!", "?")) else d.message + "."
    return f"{head} {d.help}"


def _result(d: Diagnostic) -> dict[str, Any]:
    s = d.span
    result: dict[str, Any] = {"ruleId": d.code}
    if d.code in _RULE_INDEX:  # a code outside the registry still gets a result, without index
        result["ruleIndex"] = _RULE_INDEX[d.code]
    result["level"] = d.severity
    result["message"] = {"text": _message(d)}
    result["locations"] = [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": _uri(s.file)},
                "region": {
                    "startLine": s.line,
                    "startColumn": s.column,
                    "endLine": s.end_line,
                    "endColumn": s.end_column,
                },
            }
        }
    ]
    return result


def render_sarif(diags: Iterable[Diagnostic], tool_version: str) -> str:
    """A SARIF log with one run of the `fsl` tool; results in source order."""
    ordered = sorted(diags, key=Diagnostic.sort_key)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "fsl", "version": tool_version, "rules": _rules()}},
                "columnKind": "unicodeCodePoints",
                "results": [_result(d) for d in ordered],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
