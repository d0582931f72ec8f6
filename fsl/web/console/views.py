"""The console's answers: HTML from Jinja2 templates (autoescaped), or the same data as JSON.

A page's handler returns a `View` (a template, its data, a status); the
request's `Accept: application/json` decides which of the two is sent, so
the JSON variant can never show more than the page (both come from the same
data, already cut to the viewer's sight by fsl/store/sight.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

HERE = Path(__file__).parent
HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           # no inline script, nothing from elsewhere: an injected tag could not run or phone home
           "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                                      "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"}


@dataclass
class View:
    template: str
    data: dict[str, Any]
    status: int = 200
    json: Any = None  # what the JSON variant shows, when not `data`
    headers: dict[str, str] = field(default_factory=dict)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except Exception:  # noqa: BLE001 - a zone removed from tzdata since the user was added
        return ZoneInfo("UTC")


def _local(value: Any, zone: str | None, fmt: str = "%a %d %b %Y %H:%M") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(_zone(zone)).strftime(fmt)
    return str(value)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["local"] = _local
    return env


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def wants_json(accept: str) -> bool:
    return "application/json" in accept and "text/html" not in accept


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json", headers={**HEADERS, **(headers or {})})


class Renderer:
    def __init__(self) -> None:
        self.env = environment()

    def html(self, template: str, data: dict[str, Any], status: int = 200,
             headers: dict[str, str] | None = None) -> Response:
        text = self.env.get_template(template).render(**data)
        return Response(text, status_code=status, media_type="text/html; charset=utf-8",
                        headers={**HEADERS, **(headers or {})})

    def answer(self, view: View, as_json: bool, common: dict[str, Any]) -> Response:
        if as_json:
            return json_response(view.json if view.json is not None else view.data, view.status, view.headers)
        return self.html(view.template, {**common, **view.data}, view.status, view.headers)
