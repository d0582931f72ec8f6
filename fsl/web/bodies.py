"""Request bodies, size-limited, and the items of `POST /hooks/events`.

The body is read in chunks and refused past the limit (413) without being
held whole; a declared Content-Length over the limit is refused before a
byte is read.  Items are the JSON form of `fsl events import`: one object,
an array of objects, or JSON Lines (`application/x-ndjson`).
"""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request


class BodyError(Exception):
    """A body the endpoint cannot take: the HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_items(body: bytes, content_type: str) -> list[Any]:
    """The items of the body (each still to be checked); raises BodyError (400) when it is not JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(400, "the body is not UTF-8 text") from None
    if content_type.split(";")[0].strip().lower() == "application/x-ndjson":
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                items.append(_parse(line, f"line {number}: "))
        return items
    data = _parse(text, "")
    return data if isinstance(data, list) else [data]


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"{where}malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BodyError(400, f"{where}malformed JSON: nested too deeply") from None
