"""Scenario files (CLI.md "Scenario files"): load, check, compile.

Read with ruamel.yaml's round-trip loader to keep line numbers, so every
problem is reported as `file:line: message` (a `ScenarioError`, exit 2 in the
CLI).  `playbook` and `config` are relative to the scenario file; without
`config` the nearest fsl.yaml above the scenario is used.  Contact and deal
fields are converted to the types the project schema declares (datetimes to
UTC instants, dates to dates); event fields likewise by the event's declared
fields.  Instants accept `Z`, offsets and YAML timestamps; a naive instant is
UTC.

Events before `start` are history (they count for count()/last() but trigger
nothing); events at or after `until` are outside the run and ignored with a
warning.  An event on a message that was never sent is not an error: the
engine keeps it and reports it as a warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fsl.config import plain
from fsl.engine.model import Contact, Deal, Event
from fsl.timecalc import parse_instant

UTC = timezone.utc
_BUILTIN_ENTITY = {"contact": {"id", "email", "phone", "timezone", "owner"}, "deal": {"id"}}


class ScenarioError(Exception):
    """A scenario that cannot run; str() is `file:line: message`."""

    def __init__(self, file: str, line: int | None, message: str, detail: str = "") -> None:
        self.file, self.line, self.message, self.detail = file, line, message, detail
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}" + (f"\n{detail}" if detail else ""))


@dataclass
class Scenario:
    path: Path
    plans: list
    config: Any
    start: datetime
    until: datetime
    contacts: list[Contact]
    deals: list[Deal]
    events: list[Event]
    expect: dict | None = None
    expect_lines: dict = field(default_factory=dict)


# ------------------------------------------------------------------ helpers

def _line(node: Any, key: Any = None, index: int | None = None) -> int | None:
    try:
        if key is not None:
            return node.lc.key(key)[0] + 1
        if index is not None:
            return node.lc.item(index)[0] + 1
        return node.lc.line + 1
    except Exception:  # noqa: BLE001 - ruamel's line info is best effort: no line rather than a crash
        return None


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.config = None

    def fail(self, line: int | None, message: str, detail: str = "") -> ScenarioError:
        return ScenarioError(self.file, line, message, detail)

    def read(self) -> Any:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(None, f"cannot read the scenario: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            data = YAML(typ="rt").load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise self.fail(mark.line + 1 if mark else None, f"malformed YAML: {exc.problem or exc}") from None
        except YAMLError as exc:
            raise self.fail(None, f"malformed YAML: {exc}") from None
        if not isinstance(data, dict):
            raise self.fail(1, "a scenario is a mapping with playbook, start, until, contacts, events")
        return data

    def need(self, node: dict, key: str, what: str, line: int | None) -> Any:
        if key not in node or node[key] is None:
            raise self.fail(line, f"missing `{key}` ({what})")
        return node[key]

    def instant(self, node: dict, key: str, line: int | None) -> datetime:
        raw = self.need(node, key, "an instant such as 2026-11-23T14:00:00Z", line)
        t = parse_instant(raw)
        if t is None:
            raise self.fail(_line(node, key) or line,
                            f"`{key}`: malformed instant {raw!r}; expected e.g. 2026-11-23T14:00:00Z")
        return t

    def mapping_list(self, data: dict, key: str) -> list:
        items = data.get(key)
        if items is None:
            return []
        if not isinstance(items, list):
            raise self.fail(_line(data, key), f"`{key}` must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(_line(items, index=i), f"each entry of `{key}` must be a mapping")
        return items

    # ------------------------------------------------------------ typing
    def typed(self, entity: str, name: str, value: Any, line: int | None) -> Any:
        """A field value converted to the type the schema declares."""
        ftype = self.config.field_type(entity, name) if self.config is not None else None
        return self.convert(ftype, value, f"{entity}.{name}", line)

    def convert(self, ftype, value: Any, what: str, line: int | None) -> Any:
        value = plain(value, instant=parse_instant)
        if ftype is None or value is None:
            return value
        if ftype.kind == "datetime":
            t = parse_instant(value)
            if t is None:
                raise self.fail(line, f"{what}: {value!r} is not a datetime")
            return t
        if ftype.kind == "date":
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, date):
                return value
            try:
                return date.fromisoformat(str(value))
            except ValueError:
                raise self.fail(line, f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None
        return value


# ------------------------------------------------------------------ loading

def load_scenario(path: str | Path) -> Scenario:
    """Load, check and compile a scenario; raises ScenarioError."""
    path = Path(path)
    ld = _Loader(path)
    data = ld.read()
    plans, config = _compile(ld, data)
    ld.config = config
    start = ld.instant(data, "start", 1)
    until = ld.instant(data, "until", 1)
    if until <= start:
        raise ld.fail(_line(data, "until"), "`until` must be after `start`")
    contacts = _contacts(ld, data)
    known = {c.id for c in contacts}
    deals = _deals(ld, data, known)
    events = _events(ld, data, known, {d.id for d in deals})
    expect = data.get("expect")
    if expect is not None and not isinstance(expect, dict):
        raise ld.fail(_line(data, "expect"), "`expect` must be a mapping with `actions` and/or `outcomes`")
    return Scenario(path, plans, config, start, until, contacts, deals, events,
                    plain(expect, instant=parse_instant) if expect is not None else None, _expect_lines(expect))


def _compile(ld: _Loader, data: dict) -> tuple[list, Any]:
    from fsl.api import compile_project
    from fsl.diagnostics.emit import emit
    from fsl.project import Project

    raw = ld.need(data, "playbook", "the .fsl file to run, relative to this file", 1)
    names = raw if isinstance(raw, list) else [raw]
    paths = []
    for name in names:
        if not isinstance(name, str):
            raise ld.fail(_line(data, "playbook"), "`playbook` must be a path (or a list of paths)")
        p = (ld.path.parent / name).resolve()
        if not p.exists():
            raise ld.fail(_line(data, "playbook"), f"playbook {name} not found (looked at {p})")
        paths.append(p)
    config_path = None
    if data.get("config") is not None:
        config_path = (ld.path.parent / str(data["config"])).resolve()
        if not config_path.is_file():
            raise ld.fail(_line(data, "config"), f"config {data['config']} not found (looked at {config_path})")
    project = Project.load(config_path, ld.path.parent)
    if project.config_diags:
        text = emit("text", project.config_diags, {}, 0)
        raise ld.fail(_line(data, "config"), "the project file has errors", text)
    result = compile_project(paths, project)
    if result.check.errors:
        text = emit("text", result.check.errors, result.check.sources, result.check.files)
        raise ld.fail(_line(data, "playbook"), "the playbook does not compile", text)
    if not result.plans:
        raise ld.fail(_line(data, "playbook"), "the playbook file holds no playbook")
    return result.plans, project.config


def _contacts(ld: _Loader, data: dict) -> list[Contact]:
    out: list[Contact] = []
    seen: set[str] = set()
    for node in ld.mapping_list(data, "contacts"):
        line = _line(node)
        cid = ld.need(node, "id", "the contact's id", line)
        cid = str(cid)
        if cid in seen:
            raise ld.fail(line, f"contact {cid} is listed twice")
        seen.add(cid)
        fields = {str(k): ld.typed("contact", str(k), v, _line(node, k)) for k, v in node.items()}
        fields["id"] = cid
        out.append(Contact(cid, fields))
    return out


def _deals(ld: _Loader, data: dict, contacts: set[str]) -> list[Deal]:
    out: list[Deal] = []
    for node in ld.mapping_list(data, "deals"):
        line = _line(node)
        did = str(ld.need(node, "id", "the deal's id", line))
        fields = {str(k): ld.typed("deal", str(k), v, _line(node, k))
                  for k, v in node.items() if k != "stakeholders"}
        fields["id"] = did
        stakes: dict[str, dict] = {}
        items = ld.mapping_list(node, "stakeholders")
        for i, s in enumerate(items):
            sline = _line(items, index=i)
            cid = str(ld.need(s, "contact", "the stakeholder's contact id", sline))
            if cid not in contacts:
                raise ld.fail(sline, f"deal {did}: unknown contact {cid}")
            stakes[cid] = {str(k): ld.typed("stakeholder", str(k), v, _line(s, k))
                           for k, v in s.items() if k != "contact"}
        out.append(Deal(did, fields, stakes))
    return out


_EVENT_KEYS = ("at", "type", "contact", "deal", "step")


def _events(ld: _Loader, data: dict, contacts: set[str], deals: set[str]) -> list[Event]:
    out: list[Event] = []
    for node in ld.mapping_list(data, "events"):
        line = _line(node)
        at = ld.instant(node, "at", line)
        etype = str(ld.need(node, "type", "the event type", line))
        contact = node.get("contact")
        deal = node.get("deal")
        if contact is None and deal is None:
            raise ld.fail(line, f"event {etype} names neither a `contact` nor a `deal`")
        if contact is not None and str(contact) not in contacts:
            raise ld.fail(_line(node, "contact") or line, f"event {etype}: unknown contact {contact}")
        if deal is not None and str(deal) not in deals:
            raise ld.fail(_line(node, "deal") or line, f"event {etype}: unknown deal {deal}")
        step = node.get("step")
        fields = _event_fields(ld, node, etype, contact, line)
        out.append(Event(at, etype, str(contact) if contact is not None else None,
                         str(deal) if deal is not None else None,
                         str(step) if step is not None else None, fields, line=line))
    return out


def _event_fields(ld: _Loader, node: dict, etype: str, contact, line: int | None) -> dict:
    if etype == "update":
        changes = node.get("set")
        if not isinstance(changes, dict) or not changes:
            raise ld.fail(line, "an update event needs `set: {field: value, ...}`")
        entity = "contact" if contact is not None else "deal"
        return {"set": {str(k): ld.typed(entity, str(k), v, _line(changes, k)) for k, v in changes.items()}}
    declared: dict[str, Any] | None = ld.config.event_fields(etype) if ld.config is not None else {}
    if declared is None:
        known = ", ".join(sorted(ld.config.all_events())) if ld.config is not None else ""
        raise ld.fail(_line(node, "type") or line, f"unknown event type {etype}" +
                      (f"; known events: {known}, update" if known else ""))
    fields = {}
    for k, v in node.items():
        if k in _EVENT_KEYS:
            continue
        fields[str(k)] = ld.convert(declared.get(str(k)), v, f"event {etype} field {k}", _line(node, k))
    return fields


def _expect_lines(expect: Any) -> dict:
    """Line numbers of expected actions/outcomes, for `fsl test` reports."""
    out: dict = {}
    if not isinstance(expect, dict):
        return out
    for key in ("actions", "outcomes"):
        items = expect.get(key)
        if isinstance(items, list):
            out[key] = [_line(items, index=i) for i in range(len(items))]
        if key in expect:
            out[f"{key}_line"] = _line(expect, key)  # where unexpected actions / outcomes are reported
    return out
