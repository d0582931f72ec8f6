"""The shape of a model's answer, and reading it back without trusting the server.

We ask for `{"subject": ..., "body": ...}` with a strict JSON schema, but many
OpenAI-compatible servers ignore `response_format`, and some models wrap the
object in a Markdown fence.  So every answer is parsed here and re-validated
with pydantic; anything that is not exactly one such object becomes a
`DraftError` whose reason is shown to the model on a re-ask and recorded in
the journal.
"""
from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "description": "The message subject line, one line of plain text."},
        "body": {"type": "string", "description": "The message body, plain text."},
    },
    "required": ["subject", "body"],
    "additionalProperties": False,
}
SCHEMA_NAME = "fsl_message"


class Draft(BaseModel):
    """One message written by the model: not yet checked by the guards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: StrictStr
    body: StrictStr


class DraftError(ValueError):
    """The answer is not a usable draft; `reason` says why, in words a model can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# A whole answer that is one fenced block: ```json ... ``` or ``` ... ```.
_FENCE = re.compile(r"\A```[ \t]*(?:json|JSON|json5)?[ \t]*\r?\n(?P<inner>.*?)\r?\n?```\Z", re.S)


def response_format(mode: str) -> dict[str, Any] | None:
    """The `response_format` parameter for a mode: json_schema (strict), json_object, or plain (None)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": DRAFT_SCHEMA, "strict": True}}
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "plain":
        return None
    raise ValueError(f"unknown response format mode {mode!r}")


def parse_draft(text: str | None) -> Draft:
    """The answer as a Draft, or DraftError.

    Accepted: a JSON object, optionally as the only content of a ```json fence
    (surrounding whitespace allowed).  Rejected: prose around the object,
    several objects, other JSON values, missing/extra keys, non-string values.
    Subject and body come back without surrounding whitespace (a trailing
    newline on a subject would end up in a mail header).
    """
    if text is None or not text.strip():
        raise DraftError("the answer is empty; answer with a JSON object with `subject` and `body`")
    stripped = text.strip().lstrip("\ufeff")
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group("inner").strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        raise DraftError(
            "the answer is not a JSON object; answer with only a JSON object with `subject` and `body`, no other text"
        ) from None
    if not isinstance(value, dict):
        raise DraftError(f"the answer is a JSON {_json_kind(value)}, not an object with `subject` and `body`")
    try:
        draft = Draft.model_validate(value)
    except ValidationError as exc:
        raise DraftError("the answer does not match the schema: " + _describe(exc)) from None
    return Draft(subject=draft.subject.strip(), body=draft.body.strip())


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _describe(exc: ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "answer"
        if err["type"] == "missing":
            parts.append(f"`{field}` is missing")
        elif err["type"] == "extra_forbidden":
            parts.append(f"`{field}` is not allowed (only `subject` and `body`)")
        elif err["type"].startswith("string"):
            parts.append(f"`{field}` must be a string")
        else:
            parts.append(f"`{field}`: {err['msg']}")
    return "; ".join(parts)
