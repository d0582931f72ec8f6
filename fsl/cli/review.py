"""`fsl review` and `fsl render` (registered lazily by fsl/cli/main.py).

    fsl review [--all] [--format json]       held messages: contact, step, cause, reasons, draft
    fsl review approve ID [--note] [--force] send the held draft as it is
    fsl review reject ID [--note]            never send it (recorded)
    fsl review edit ID [--subject] [--body] [--force]
                                             write the text ($EDITOR without --body); the guards
                                             run on it and their verdicts are shown; saving the
                                             edit *approves* it (a reviewer who rewrote a message
                                             means it to go), refused with exit 1 if a guard fails
                                             unless --force
    fsl review retry ID [--force]            ask the model again now
    fsl render PLAYBOOK STEP --contact ID    preview a step's messages for one contact

Decisions never deliver anything themselves: an approved or released
message goes out with the next tick, through the outbox, under its own
idempotency key and Message-ID (the review only supplies the text).
Exit codes: 0 done, 1 refused (wrong state, a guard failed, the model still
unavailable), 2 bad usage (no store, unknown id).
"""
from __future__ import annotations

import getpass
import sys
from datetime import datetime, timezone
from typing import Any

import click

from fsl.timecalc import iso

from .common import CONFIG_OPTION, FORMAT_OPTION, NOW_OPTION, console, fail, open_runtime, parse_now, print_json

UTC = timezone.utc


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def _iso(t: int | None) -> str | None:
    return iso(datetime.fromtimestamp(t, UTC)) if t is not None else None


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """A review as `fsl review --format json` shows it."""
    verdicts = (row.get("verdicts") or {}).get("verdicts") if isinstance(row.get("verdicts"), dict) else None
    return {"id": row["id"], "status": row["status"], "cause": row["cause"], "contact": row["contact"],
            "deal": row["deal"], "playbook": row["playbook"], "step": row["step"], "template": row["template"],
            "channel": row.get("channel"), "reasons": row["reasons"], "subject": row["subject"], "body": row["body"],
            "verdicts": verdicts, "asks": row["asks"], "retry_at": _iso(row["retry_at"]),
            "held_at": _iso(row["created_at"]), "decided_by": row["decided_by"], "decided_at": _iso(row["decided_at"]),
            "note": row["note"], "action": row["action_key"], "action_status": row.get("action_status"),
            "stale": row.get("stale")}


def _run(config_path: str | None, fn):
    """Open the project's store (never create it), run fn(runtime), map ReviewError to its exit code."""
    from fsl.llm.review import ReviewError

    rt = open_runtime(config_path, create=False)
    try:
        return fn(rt)
    except ReviewError as exc:
        fail(f"fsl review: {exc.message}", exc.code)
    finally:
        rt.close()


# ------------------------------------------------------------------ fsl review

@click.group("review", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="every review, decided ones too (default: held ones)")
@FORMAT_OPTION
@CONFIG_OPTION
@click.pass_context
def review_command(ctx: click.Context, show_all: bool, fmt: str, config_path: str | None) -> None:
    """Model-written messages held for review: list them (default), approve, reject, edit, retry."""
    if ctx.invoked_subcommand is not None:
        return
    from fsl.llm import review as R

    def listing(rt):
        with rt.db.read() as conn:
            return [_view(r) for r in R.listing(conn, None if show_all else R.OPEN)]

    rows = _run(config_path, listing)
    if fmt == "json":
        print_json(rows)
        return
    out = console()
    if not rows:
        out.print("no messages held for review")
        return
    for r in rows:
        where = f"{r['playbook']}/{r['step']}" + (f" (deal {r['deal']})" if r["deal"] else "")
        out.print(f"[bold]#{r['id']}[/bold] {r['status']}  contact {r['contact']}  {where}  "
                  f"template {r['template']}  held {r['held_at']}  cause {r['cause']}")
        for reason in r["reasons"]:
            out.print(f"    - {reason}", markup=False)
        if r["retry_at"]:
            out.print(f"    the model is asked again after {r['retry_at']} (or: fsl review retry {r['id']})")
        if r["stale"]:
            out.print(f"    ! {r['stale']}", markup=False)
        if r["body"]:
            out.print(f"    subject: {r['subject']}", markup=False)
            for line in r["body"].splitlines() or [""]:
                out.print(f"    | {line}", markup=False)


NOTE_OPTION = click.option("--note", help="why (kept with the decision and in the journal)")
FORCE_OPTION = click.option("--force", is_flag=True, help="go ahead despite a failing guard or a stopped enrollment")


@review_command.command("approve")
@click.argument("review_id", type=int)
@NOTE_OPTION
@FORCE_OPTION
@FORMAT_OPTION
@CONFIG_OPTION
def approve_command(review_id: int, note: str | None, force: bool, fmt: str, config_path: str | None) -> None:
    """Send the held draft as it is, with the next tick."""
    from fsl.llm import review as R
    from fsl.runtime.preview import stop_types

    def go(rt):
        with rt.db.read() as conn:
            types = stop_types(rt, R.get(conn, review_id)["playbook"])
        with rt.db.write() as conn:
            return R.approve(conn, review_id, _who(), force=force, note=note, stop_types=types)

    row = _run(config_path, go)
    _done(fmt, {"id": review_id, "status": "approved", "subject": row["subject"], "body": row["body"]},
          f"approved #{review_id}: it goes out with the next tick")


@review_command.command("reject")
@click.argument("review_id", type=int)
@NOTE_OPTION
@FORMAT_OPTION
@CONFIG_OPTION
def reject_command(review_id: int, note: str | None, fmt: str, config_path: str | None) -> None:
    """Never send this message (the decision is recorded)."""
    from fsl.llm import review as R

    def go(rt):
        with rt.db.write() as conn:
            return R.reject(conn, review_id, _who(), note)

    _run(config_path, go)
    _done(fmt, {"id": review_id, "status": "rejected"}, f"rejected #{review_id}: it will never be sent")


@review_command.command("edit")
@click.argument("review_id", type=int)
@click.option("--subject", help="the new subject (default: keep the draft's)")
@click.option("--body", help="the new body (default: open $EDITOR on the draft)")
@NOTE_OPTION
@FORCE_OPTION
@FORMAT_OPTION
@CONFIG_OPTION
def edit_command(review_id: int, subject: str | None, body: str | None, note: str | None, force: bool, fmt: str,
                 config_path: str | None) -> None:
    """Rewrite the message, check it with the guards, and approve it."""
    from fsl.llm import review as R
    from fsl.runtime.preview import guards_for_action, stop_types

    def go(rt):
        nonlocal subject, body
        with rt.db.read() as conn:
            current = R.get(conn, review_id)
        if current["status"] != R.OPEN:
            raise R.ReviewError(f"message {review_id} is {current['status']}, not held: nothing to edit")
        if body is None:
            subject, body = _edit_in_editor(subject if subject is not None else current["subject"],
                                            current["body"] or "")
        elif subject is None:
            subject = current["subject"]
        verdicts = guards_for_action(rt, current["action_id"], subject or "", body)
        failed = [v for v in verdicts if not v["passed"]]
        if failed and not force:
            return verdicts, None
        with rt.db.write() as conn:
            R.approve(conn, review_id, _who(), subject=subject, body=body, verdicts=verdicts, force=force, note=note,
                      stop_types=stop_types(rt, current["playbook"]))
        return verdicts, {"subject": subject, "body": body}

    verdicts, saved = _run(config_path, go)
    failed = [v for v in verdicts if not v["passed"]]
    if fmt == "json":
        print_json({"id": review_id, "status": "approved" if saved else "held", "verdicts": verdicts,
                    **(saved or {})})
    else:
        _print_verdicts(verdicts, err=saved is None)
        if saved is None:
            click.echo(f"not saved: {len(failed)} guard(s) failed; fix the text or pass --force", err=True)
        else:
            click.echo(f"saved and approved #{review_id}: it goes out with the next tick")
    sys.exit(1 if saved is None else 0)


@review_command.command("retry")
@click.argument("review_id", type=int)
@FORCE_OPTION
@FORMAT_OPTION
@CONFIG_OPTION
def retry_command(review_id: int, force: bool, fmt: str, config_path: str | None) -> None:
    """Ask the model again now; if every guard passes, it goes out with the next tick."""
    from fsl.runtime.preview import retry_review

    status, outcome = _run(config_path, lambda rt: retry_review(rt, review_id, _who(), force))
    if fmt == "json":
        print_json({"id": review_id, "status": status, "render": outcome})
    else:
        _print_verdicts([v for v in outcome.get("verdicts", [])], err=False)
        if status == "released":
            click.echo(f"#{review_id}: the model answered and every guard passed; it goes out with the next tick")
        else:
            click.echo(f"#{review_id} is still held: " + "; ".join(outcome.get("reasons", [])), err=True)
    sys.exit(0 if status == "released" else 1)


def _done(fmt: str, data: dict, text: str) -> None:
    if fmt == "json":
        print_json(data)
    else:
        click.echo(text)


def _print_verdicts(verdicts: list[dict], err: bool = False) -> None:
    for v in verdicts:
        click.echo(f"  {'ok  ' if v['passed'] else 'FAIL'} {v['guard']}: {v['reason']}", err=err)


def _edit_in_editor(subject: str | None, body: str) -> tuple[str | None, str]:
    """$EDITOR on "Subject: ...", a blank line, the body; exit 1 if nothing was saved."""
    text = click.edit(f"Subject: {subject or ''}\n\n{body}\n", extension=".txt", require_save=True)
    if text is None:
        fail("fsl review edit: the editor closed without saving; nothing changed", 1)
    head, _, rest = text.partition("\n")
    if head.lower().startswith("subject:"):
        return head[len("subject:"):].strip(), rest.strip("\n").rstrip()
    return subject, text.strip("\n").rstrip()


# ------------------------------------------------------------------ fsl render

@click.command("render")
@click.argument("playbook")
@click.argument("step")
@click.option("--contact", "contact_id", required=True, help="the contact to render for")
@click.option("--deal", "deal_id", help="the deal (default: the contact's enrollment's deal, if any)")
@NOW_OPTION
@FORMAT_OPTION
@CONFIG_OPTION
def render_command(playbook: str, step: str, contact_id: str, deal_id: str | None, now_text: str | None,
                   fmt: str, config_path: str | None) -> None:
    """Preview what STEP of PLAYBOOK would send to a contact now, with every guard's verdict.

    Nothing is written to the store but the render cache."""
    from fsl.runtime.preview import PreviewError, preview_step

    now = parse_now(now_text) or datetime.now(UTC)
    rt = open_runtime(config_path, create=False)
    try:
        data = preview_step(rt, playbook, step, contact_id, deal_id, now)
    except PreviewError as exc:
        fail(f"fsl render: {exc}", 2)
    finally:
        rt.close()
    if fmt == "json":
        print_json(data)
    else:
        _print_preview(data)
    held = any(m["status"] != "ok" for m in data["messages"])  # held, failed, or a template failing a guard
    sys.exit(1 if held else 0)


def _print_preview(data: dict) -> None:
    out = console()
    out.print(f"[bold]{data['playbook']}/{data['step']}[/bold] for contact {data['contact']}"
              + (f", deal {data['deal']}" if data["deal"] else "") + f" at {data['now']}"
              + (f" (enrollment {data['enrollment']})" if data["enrollment"] else " (not enrolled: a fresh enrollment)"))
    for note in data["branches"]:
        out.print(f"  branch: {note}", markup=False)
    if not data["messages"]:
        out.print("  this step sends nothing for this contact now")
    for m in data["messages"]:
        out.print(f"\n[bold]send {m['channel']} \"{m['template']}\"[/bold] (line {m['line']}, {m['renderer']}) "
                  f"-> {m['to']}: {m['status'].upper()}")
        for v in m["verdicts"]:
            out.print(f"  {'ok  ' if v['passed'] else 'FAIL'} {v['guard']}: {v['reason']}", markup=False)
        if m.get("error"):
            out.print(f"  {m['error']}", markup=False)
        if m.get("body") is not None:
            out.print(f"  subject: {m['subject']}", markup=False)
            for line in m["body"].splitlines() or [""]:
                out.print(f"  | {line}", markup=False)
    for other in data["not_taken"]:
        out.print(f"\n  (not taken now) send {other['channel']} \"{other['template']}\" at line {other['line']}",
                  markup=False)


__all__ = ["render_command", "review_command"]
