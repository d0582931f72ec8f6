"""`fsl contacts import`, `fsl deals import`, `fsl event`, `fsl events import`, `fsl enroll` (CLI.md "Running").

Exit codes: 0 done; 1 the command ran and found problems (bad rows or
lines, which are skipped while the good ones are kept; an enrollment the
playbook's rules refuse); 2 bad usage or unreadable input (no fsl.yaml, a
file that cannot be read, an unusable store, an invalid `fsl event`).
Human text goes to stderr; `--format json` prints one JSON document alone on
stdout.  A file that cannot be read changes nothing: deals and events files
are read completely before the store is opened; a contacts file is stored
batch by batch as it is read (a million rows never all in memory), once its
header and first rows have been read -- after them, no row can make the
whole file unreadable, only itself bad.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

from .common import CONFIG_OPTION, FORMAT_OPTION, fail, open_runtime, parse_now, print_json, progress

UTC = timezone.utc
AT_OPTION = click.option("--at", "--now", "at_text", metavar="ISO",
                         help="when, e.g. 2026-11-23T14:00:00Z (default: the wall clock)")


def _fail(command: str, message: str, code: int = 2) -> NoReturn:
    fail(f"fsl {command}: {message}", code)
    raise AssertionError("unreachable")  # pragma: no cover


def _config(command: str, config_path: str | None):
    """The project's config, or exit 2 saying why there is none."""
    return _project(command, config_path).config


def _project(command: str, config_path: str | None):
    """The project, with a config, or exit 2 saying why there is none."""
    from fsl.diagnostics.emit import emit
    from fsl.project import Project

    project = Project.load(config_path, Path.cwd())
    if project.config_diags:
        _fail(command, "the project file has errors:\n" + emit("text", project.config_diags, {}, 0).rstrip())
    if project.config is None:
        _fail(command, "no fsl.yaml found here or above; pass --config PATH")
    return project


def _emit(fmt: str, document: dict[str, Any], text: list[str]) -> None:
    if fmt == "json":
        print_json(document)
    for line in text:
        click.echo(line, err=True)


# ---------------------------------------------------------------- imports

def _import(command: str, kind: str, file: Path, config_path: str | None, fmt: str,
            read: Callable, load: Callable) -> NoReturn:
    """Read FILE, store its good rows, report every problem; exit 0/1/2."""
    from fsl.engine.gcpolicy import import_collections

    project = _project(command, config_path)
    config = project.config
    # a deals or events file's objects stay alive until stored (contacts stream): collect less often
    with import_collections(), progress(fmt == "text", f"importing {kind}") as bar:  # a bar on terminals only
        result = read(file, config, bar)
        if result.fatal:
            _fail(command, result.fatal)
        runtime = open_runtime(config_path, project=project)  # (the project read once)
        try:
            report = load(runtime, result, bar)
        finally:
            runtime.close()
    warnings = sorted([*result.warnings, *report.notes], key=lambda p: p.line)
    name = str(file)
    text = [f"{name}:{p.line}: {p.reason}" for p in result.problems]
    text += [f"{name}:{w.line}: warning: {w.reason}" if w.line else f"{name}: warning: {w.reason}"
             for w in warnings]
    bad = len(result.problems)
    if kind == "events":
        summary = f"recorded {_n(report.recorded, 'event')} from {name}"
        if report.duplicates:
            summary += f" ({report.duplicates} already recorded)"
    else:
        total = report.created + report.updated + report.unchanged
        summary = (f"imported {_n(total, kind[:-1])} from {name} "
                   f"({report.created} new, {report.updated} updated, {report.unchanged} unchanged)")
    if bad:
        summary += f"; {_n(bad, 'bad ' + ('line' if result.format == 'jsonl' else 'row'))} skipped"
    document = {"file": name, "format": result.format, **report.to_json(kind),
                "problems": [{"line": p.line, "reason": p.reason} for p in result.problems],
                "warnings": [{"line": w.line, "message": w.reason} for w in warnings]}
    _emit(fmt, document, text + [summary])
    sys.exit(1 if bad else 0)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _events_loader(runtime, result, bar=None):
    from fsl.io.load import load_events

    return load_events(runtime, result.good, result.lines, bar)


@click.group("contacts")
def contacts_command() -> None:
    """Contacts in the store."""


@contacts_command.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@CONFIG_OPTION
@FORMAT_OPTION
def contacts_import(file: Path, config_path: str | None, fmt: str) -> None:
    """Load or update contacts from CSV (a header row of field names) or JSON Lines."""
    from fsl.io import stream_contacts
    from fsl.io.load import load_contacts

    _import("contacts import", "contacts", file, config_path, fmt, stream_contacts, load_contacts)


@click.group("deals")
def deals_command() -> None:
    """Deals and their stakeholders in the store."""


@deals_command.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@CONFIG_OPTION
@FORMAT_OPTION
def deals_import(file: Path, config_path: str | None, fmt: str) -> None:
    """Load or update deals and their stakeholders (CSV: one row per deal and
    stakeholder, with a `contact` column; JSON Lines: scenario deals)."""
    from fsl.io import read_deals
    from fsl.io.load import load_deals

    _import("deals import", "deals", file, config_path, fmt, read_deals, load_deals)


@click.group("events")
def events_command() -> None:
    """Events for the runtime."""


@events_command.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@CONFIG_OPTION
@FORMAT_OPTION
def events_import(file: Path, config_path: str | None, fmt: str) -> None:
    """Record events from JSON Lines (at, type, contact or deal, step, fields);
    the next tick ingests them."""
    from fsl.io import read_events

    _import("events import", "events", file, config_path, fmt, read_events, _events_loader)


# ---------------------------------------------------------------- one event

@click.command("event")
@click.argument("event_type", metavar="TYPE")
@click.option("--contact", help="the contact it happened to")
@click.option("--deal", help="the deal (alone: every stakeholder's event)")
@click.option("--step", help="the step whose message it concerns (opened, clicked, replied, ...)")
@click.option("--link", help="the link tag of a `clicked` event")
@AT_OPTION
@click.option("--data", multiple=True, metavar="KEY=VALUE",
              help="an event field (repeatable); for `update`, a field to set")
@CONFIG_OPTION
@FORMAT_OPTION
def event_command(event_type: str, contact: str | None, deal: str | None, step: str | None, link: str | None,
                  at_text: str | None, data: tuple[str, ...], config_path: str | None, fmt: str) -> None:
    """Record one event; the next tick ingests it."""
    from fsl.io.coerce import Bad
    from fsl.io.events import event_from
    from fsl.io.load import unknowns
    from fsl.engine.timing import iso

    config = _config("event", config_path)
    at = parse_now(at_text, "--at") or datetime.now(UTC).replace(microsecond=0)
    values: dict[str, Any] = {"type": event_type, "contact": contact, "deal": deal, "step": step, "at": at}
    fields: dict[str, str] = {}
    for item in data:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail("event", f"--data takes KEY=VALUE, got {item!r}")
        fields[key.strip()] = value
    if link is not None:
        fields["link"] = link
    if event_type == "update":
        if not fields:
            _fail("event", "an update needs at least one --data FIELD=VALUE")
        values["set"] = fields
    else:
        clash = sorted(set(fields) & {"at", "type", "contact", "deal", "step", "id"})
        if clash:
            _fail("event", f"--data {clash[0]}=... : use the --{clash[0]} option")
        declared = config.event_fields(event_type)
        undeclared = sorted(set(fields) - set(declared)) if declared is not None else []
        if undeclared:
            have = ", ".join(declared) or "no fields"
            _fail("event", f"{event_type} has no field {undeclared[0]!r} (it has {have})")
        values.update(fields)
    try:
        event, _ = event_from(values, config, text=True)
    except Bad as exc:
        _fail("event", str(exc))
    runtime = open_runtime(config_path)
    try:
        with runtime.store.snapshot() as store:
            notes = unknowns(store, event)
        runtime.record_events([event])
    finally:
        runtime.close()
    document = {"recorded": True, "event": {"at": iso(event.at), "type": event.type, "contact": event.contact,
                                            "deal": event.deal, "step": event.step,
                                            "fields": _jsonable(event.fields)},
                "warnings": notes}
    who = event.contact or f"deal {event.deal}"
    text = [f"warning: {n}" for n in notes] + [f"recorded {event.type} for {who} at {iso(event.at)}"]
    _emit(fmt, document, text)
    sys.exit(0)


def _jsonable(value: Any) -> Any:
    from fsl.delivery.context import jsonable

    return jsonable(value)


# ---------------------------------------------------------------- enroll

@click.command("enroll")
@click.argument("playbook")
@click.option("--contact", required=True, help="the contact to enroll")
@click.option("--deal", help="the deal the enrollment is about")
@AT_OPTION
@CONFIG_OPTION
@FORMAT_OPTION
def enroll_command(playbook: str, contact: str, deal: str | None, at_text: str | None, config_path: str | None,
                   fmt: str) -> None:
    """Enroll a contact in a deployed playbook by hand (its `reenroll` rule
    and the one-running-enrollment rule still apply); the next tick runs it."""
    from fsl.engine.timing import iso, minute_floor

    at = minute_floor(parse_now(at_text, "--at") or datetime.now(UTC))
    runtime = open_runtime(config_path)
    try:
        engine = runtime.engine()
        if playbook not in engine.programs:
            known = ", ".join(sorted(engine.programs)) or "none deployed (run fsl deploy)"
            _fail("enroll", f"no deployed playbook named {playbook}; deployed: {known}")
        with runtime.store.snapshot() as store:
            if store.get_contact(contact) is None:
                _fail("enroll", f"unknown contact {contact} (import it with fsl contacts import)")
            if deal is not None and store.get_deal(deal) is None:
                _fail("enroll", f"unknown deal {deal} (import it with fsl deals import)")
        enrollment, why = runtime.enroll(playbook, contact, deal, at)
    finally:
        runtime.close()
    document = {"enrolled": enrollment is not None, "enrollment": enrollment, "playbook": playbook,
                "contact": contact, "deal": deal, "at": iso(at)}
    if enrollment is None:
        document["reason"] = why
        _emit(fmt, document, [f"fsl enroll: not enrolled: {why}"])
        sys.exit(1)
    _emit(fmt, document, [f"enrolled {contact} in {playbook} (enrollment {enrollment}) at {iso(at)}"])
    sys.exit(0)
