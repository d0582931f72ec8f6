"""The console's pages (CONSOLE.md "Pages"): each reads and writes through fsl/store/sight.py.

Every function runs in a worker thread under the store lock (routes.py) and
returns a `View` (HTML or JSON from the same data) or a redirect.  Out of
sight and unknown are the same answer: 404.
"""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import RedirectResponse, Response

from fsl.store import sight
from fsl.store.codec import epoch

from .context import Ctx
from .views import View, json_response

UTC = timezone.utc
CHANNELS = ("phone", "email", "linkedin", "meeting", "other")
STATUSES = ("reached", "no_answer", "won", "lost")
DUE_FORMAT = "%a %d %b %Y %H:%M"
NOT_FOUND = View("not_found.html", {}, 404)


def contact_label(fields: dict | None, contact_id: str) -> str:
    """How a contact is named on a page: name, else first and last name, else email, else id."""
    if not fields:
        return contact_id
    full = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
    return str(fields.get("name") or full or fields.get("email") or contact_id)


def _zone(ctx: Ctx) -> ZoneInfo:
    try:
        return ZoneInfo(ctx.user.timezone)
    except Exception:  # noqa: BLE001 - a zone tzdata no longer has: UTC
        return ZoneInfo("UTC")


def _end_of_today(ctx: Ctx) -> datetime:
    zone = _zone(ctx)
    local = ctx.now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(), zone).astimezone(UTC) - timedelta(seconds=1)


def _done(ctx: Ctx, to: str, data: dict[str, Any]) -> Response:
    """After a change: the JSON variant says what was done, the page goes on (303, no resubmission)."""
    return json_response(data) if ctx.as_json else RedirectResponse(to, status_code=303)


# ------------------------------------------------------------------ /tasks

def tasks(ctx: Ctx) -> View:
    owners = [ctx.user] + (list(ctx.scope.team) if ctx.user.role == "manager" else [])
    with ctx.runtime.db.read() as conn:
        found = sight.open_tasks(conn, ctx.scope, [u.owner_id for u in owners], epoch(_end_of_today(ctx)))
    by_owner: dict[str, list[dict]] = {}
    zone = _zone(ctx)
    for t in found:
        t["overdue"] = t["due"] < ctx.now
        t["due_local"] = t["due"].astimezone(zone).strftime(DUE_FORMAT)  # (once here: cheaper than a filter)
        t["label"] = contact_label(t["contact_fields"], t["contact"])
        by_owner.setdefault(t["assignee"], []).append(t)
    groups = [{"user": u.label, "owner_id": u.owner_id, "mine": u.id == ctx.user.id,
               "tasks": by_owner.get(u.owner_id, [])} for u in owners]
    return View("tasks.html", {"groups": groups},
                json={"now": ctx.now, "zone": ctx.user.timezone, "groups": groups})


def _task_done_form(ctx: Ctx, task: dict, errors: list[str], status: int = 200) -> View:
    return View("task_done.html", {"task": task, "channels": CHANNELS, "statuses": STATUSES, "errors": errors,
                                   "values": ctx.form}, status,
                json={"task": task, "errors": errors, "fields": {"channel": CHANNELS, "status": STATUSES}})


def _done_fields(ctx: Ctx) -> tuple[dict[str, Any], list[str]]:
    f = ctx.form
    errors = []
    channel, status = f.get("channel", ""), f.get("status", "")
    if channel not in CHANNELS:
        errors.append(f"channel: choose one of {', '.join(CHANNELS)}")
    if status not in STATUSES:
        errors.append(f"status: choose one of {', '.join(STATUSES)}")
    summary, feedback = f.get("summary", "").strip(), f.get("feedback", "").strip()
    if len(summary) > 5000 or len(feedback) > 5000:
        errors.append("summary and feedback: at most 5000 characters each")
    next_at: date | None = None
    if f.get("next_at", "").strip():
        try:
            next_at = date.fromisoformat(f["next_at"].strip())
        except ValueError:
            errors.append("next_at: a date such as 2026-12-24")
    fields: dict[str, Any] = {"channel": channel, "summary": summary, "feedback": feedback, "status": status}
    if next_at is not None:
        fields["next_at"] = next_at
    return fields, errors


def task_done(ctx: Ctx) -> View | Response:
    """GET: the Done form.  POST: close the task and record `task_done`, applied before answering."""
    from fsl.engine.model import Event
    from fsl.signals import recording

    task_id = int(ctx.params["task_id"])
    with ctx.runtime.db.read() as conn:
        task = sight.task(conn, ctx.scope, task_id)
    if task is None:
        return NOT_FOUND
    if ctx.method == "GET":
        return _task_done_form(ctx, task, [])
    if task["status"] != "open":
        return _task_done_form(ctx, task, ["this task is already done"], 409)
    fields, errors = _done_fields(ctx)
    if errors:
        return _task_done_form(ctx, task, errors, 422)
    now = ctx.now.replace(microsecond=0)
    with ctx.runtime.db.write() as conn:
        closed = sight.close_task(conn, ctx.scope, task_id, epoch(now))
        action = sight.task_action_key(conn, ctx.scope, task_id) if closed is not None else None
    if closed is None:
        return _task_done_form(ctx, task, ["this task is already done"], 409)
    # `action` (the task's action key) lets `fsl report` tell this task from others of its kind
    event = Event(at=now, type="task_done", contact=task["contact"], deal=task["deal"],
                  fields={"task": task_id, **fields, "action": action})
    warnings = recording.record(ctx.runtime, [event], now)
    return _done(ctx, "/tasks", {"task": task_id, "status": "done", "warnings": warnings})


def task_snooze(ctx: Ctx) -> View | Response:
    """GET: the form (a local date and time).  POST `until`: the task is due then."""
    task_id = int(ctx.params["task_id"])
    with ctx.runtime.db.read() as conn:
        task = sight.task(conn, ctx.scope, task_id)
    if task is None:
        return NOT_FOUND
    zone = _zone(ctx)
    tomorrow = datetime.combine(ctx.now.astimezone(zone).date() + timedelta(days=1), time(9), zone)
    if ctx.method == "GET":
        return View("task_snooze.html", {"task": task, "default": tomorrow.strftime("%Y-%m-%dT%H:%M"), "errors": []})
    try:
        until = datetime.fromisoformat(ctx.form.get("until", "").strip()).replace(tzinfo=zone)
    except ValueError:
        return View("task_snooze.html", {"task": task, "default": tomorrow.strftime("%Y-%m-%dT%H:%M"),
                                         "errors": ["until: a date and time such as 2026-12-24T09:00"]}, 422)
    with ctx.runtime.db.write() as conn:
        sight.snooze_task(conn, ctx.scope, task_id, epoch(until.astimezone(UTC)))
    return _done(ctx, "/tasks", {"task": task_id, "due": until.astimezone(UTC)})


# ------------------------------------------------------------------ /review

def _review_view(ctx: Ctx, row: dict) -> dict[str, Any]:
    from fsl.runtime.preview import prompt_for_action

    record = json.loads(row["verdicts"]) if row.get("verdicts") else {}
    return {"id": row["id"], "contact": row["contact"], "deal": row["deal"], "playbook": row["playbook"],
            "step": row["step"], "template": row["template"], "cause": row["cause"],
            "reasons": json.loads(row["reasons"] or "[]"), "subject": row["subject"], "body": row["body"],
            "verdicts": record.get("verdicts") or [], "attempts": record.get("attempts") or [],
            "held_at": datetime.fromtimestamp(row["created_at"], UTC),
            "prompt": prompt_for_action(ctx.runtime, row["action_id"])}


def review(ctx: Ctx) -> View:
    with ctx.runtime.db.read() as conn:
        rows = sight.held_reviews(conn, ctx.scope)
    items = [_review_view(ctx, r) for r in rows]
    return View("review.html", {"items": items}, json={"items": items})


def review_decide(ctx: Ctx) -> View | Response:
    """POST /review/{id}/approve | edit | reject."""
    from fsl.llm import review as R
    from fsl.runtime.preview import guards_for_action, stop_types

    verb = ctx.params["verb"]
    review_id = int(ctx.params["review_id"])
    with ctx.runtime.db.read() as conn:
        row = sight.review_in_sight(conn, ctx.scope, review_id)
    if row is None or verb not in ("approve", "edit", "reject"):
        return NOT_FOUND
    by = f"console:{ctx.user.name}"
    note = ctx.form.get("note", "").strip() or None
    try:
        if verb == "reject":
            with ctx.runtime.db.write() as conn:
                R.reject(conn, review_id, by, note)
            return _done(ctx, "/review", {"id": review_id, "status": "rejected"})
        types = stop_types(ctx.runtime, row["playbook"])
        if verb == "approve":
            with ctx.runtime.db.write() as conn:
                R.approve(conn, review_id, by, note=note, stop_types=types)
            return _done(ctx, "/review", {"id": review_id, "status": "approved"})
        subject = ctx.form.get("subject", row["subject"] or "").strip()
        body = ctx.form.get("body", "").replace("\r\n", "\n").strip()
        verdicts = guards_for_action(ctx.runtime, row["action_id"], subject, body)
        failed = [v for v in verdicts if not v["passed"]]
        if failed:  # nothing saved; the draft stays held
            item = {**_review_view(ctx, row), "edit_subject": subject, "edit_body": body, "edit_verdicts": verdicts}
            return View("review.html", {"items": [item], "error": f"{len(failed)} guard(s) failed: nothing saved"},
                        422, json={"id": review_id, "status": "held", "verdicts": verdicts})
        with ctx.runtime.db.write() as conn:
            R.approve(conn, review_id, by, subject=subject, body=body, verdicts=verdicts, note=note,
                      stop_types=types)
        return _done(ctx, "/review", {"id": review_id, "status": "approved", "verdicts": verdicts})
    except R.ReviewError as exc:
        return View("message.html", {"title": "Not done", "text": exc.message}, 409,
                    json={"id": review_id, "error": exc.message})


# ------------------------------------------------------------------ /contacts/{id}

def contact(ctx: Ctx) -> View:
    with ctx.runtime.db.read() as conn:
        found = sight.timeline(conn, ctx.scope, ctx.params["contact_id"])
    if found is None:
        return NOT_FOUND
    return View("contact.html", {"c": found}, json=found)


# ------------------------------------------------------------------ /playbooks

def playbooks(ctx: Ctx) -> View:
    from fsl.store.queries import status

    if ctx.user.role not in ("manager", "admin"):
        return NOT_FOUND
    with ctx.runtime.db.read() as conn:
        books = status(conn, ctx.now)["playbooks"]
    funnels = _funnels(ctx)
    for b in books:
        b["funnel"] = funnels.get(b["playbook"])
    return View("playbooks.html", {"books": books}, json={"playbooks": books})


FUNNEL_SECONDS = 60.0  # the report reads the whole store: computed at most once a minute per process


def _funnels(ctx: Ctx) -> dict[str, Any]:
    """`fsl report`'s funnel and outcomes per playbook, over the whole store (kept a minute)."""
    import time as clock

    cached = getattr(ctx.runtime, "_fsl_console_funnels", None)
    if cached is not None and clock.monotonic() - cached[0] < FUNNEL_SECONDS:
        return cached[1]
    funnels = _report_funnels(ctx)
    ctx.runtime._fsl_console_funnels = clock.monotonic(), funnels
    return funnels


def _report_funnels(ctx: Ctx) -> dict[str, Any]:
    from fsl.report.compute import build_report
    from fsl.report.sources import sql_source

    source = sql_source(ctx.runtime.db, ctx.runtime.config, "store")  # (its `close` is not ours to call)
    with source.reading():
        report = build_report(source.store, as_of=source.as_of, plans=source.plans, config=source.config)
    return {ps.name: {"enrolled": ps.enrolled, "outcomes": ps.outcomes,
                      "funnel": [stage.model_dump() for stage in ps.funnel]} for ps in report.playbooks}


# ------------------------------------------------------------------ /users (admins)

USER_FIELDS = ("name", "role", "team", "owner_id", "timezone", "email", "display_name", "phone", "signature")


def users(ctx: Ctx) -> View | Response:
    """GET: the users and a form to add one.  POST: add one (the same rules as `fsl users add`)."""
    from fsl.store import users as U

    if ctx.user.role != "admin":
        return NOT_FOUND
    errors: list[str] = []
    if ctx.method == "POST":
        f = {k: ctx.form.get(k, "").strip() for k in USER_FIELDS}
        zone = f["timezone"] or ctx.runtime.config.timezone
        try:
            ZoneInfo(zone)
        except Exception:  # noqa: BLE001 - any failure: not a zone this machine knows
            errors.append(f"timezone: unknown time zone {zone!r}")
        if not errors:
            try:
                with ctx.runtime.db.write() as conn:
                    U.add(conn, f["name"], ctx.form.get("password", ""), role=f["role"], timezone=zone,
                          team=f["team"] or None, owner_id=f["owner_id"] or None, email=f["email"] or None,
                          display_name=f["display_name"] or None, phone=f["phone"] or None,
                          signature=f["signature"] or None)
                return _done(ctx, "/users", {"added": f["name"]})
            except U.UserError as exc:
                errors.append(str(exc))
    with ctx.runtime.db.read() as conn:
        found = [u.public() for u in U.listing(conn)]
    return View("users.html", {"users": found, "errors": errors, "values": ctx.form, "roles": U.ROLES},
                422 if errors else 200, json={"users": found, "errors": errors})


def user_disable(ctx: Ctx) -> View | Response:
    from fsl.store import users as U

    if ctx.user.role != "admin":
        return NOT_FOUND
    try:
        with ctx.runtime.db.write() as conn:
            U.disable(conn, ctx.params["name"])
    except U.UserError:
        return NOT_FOUND
    return _done(ctx, "/users", {"disabled": ctx.params["name"]})
