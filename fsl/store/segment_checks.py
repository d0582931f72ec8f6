"""`enroll when` checks passed over in SQL (issue #6).

Why: a segment over a million contacts is looked at on its schedule, and
loading every candidate (its contact, events, enrollments, deals) into
Python to find the few that match is what made large segments slow.
`segment_sql.prefilter_moves` gives a clause P that holds for every contact the
expression can hold for, and is never NULL; so the due checks of contacts
with NOT P are ones the engine would evaluate to false.  What the engine does
after a false check depends only on the check's schedule, so it is done here
in one statement per playbook (per time zone where the schedule reads one):

* data-driven (no schedule, nothing time-dependent): the candidate is looked
  at again only when its data changes (enrolling.recheck), so the row is
  deleted -- exactly what a false check does;
* every minute (a time-dependent expression, no schedule): the row moves to
  the next minute -- or sleeps until the next UTC midnight when P's only
  dependence on time is `days_since` of a field (it compares dates), or until
  data changes when P does not depend on time at all: until P can hold,
  every check the engine would make is false.  The engine may set a later
  time (when the contact can re-enter); a check before that does nothing;
* `check every D`: the row moves to t + D, in the candidate's zone when D is
  calendar days (grouped by zone value);
* `check cron`: the row moves to the next firing in the candidate's zone.

The rows left due -- P holds, or the playbook's shape is not handled here --
are claimed and evaluated by the engine as before, so the enrollments are
the same by construction (tests/test_segment_checks.py runs ticks with and
without this pass and compares every enrollment).

Deploy uses the same clause: a data-driven segment's first checks are
scheduled only for the contacts with P (`first_check_filter`).

Zones: the zone of a candidate comes from the playbook's `timezone`
expression.  When that is a contact field (or absent), zone-dependent
schedules group by the field's value; any other expression (a deal field,
arithmetic) leaves that playbook's checks to the engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from fsl.engine.evaluate import add
from fsl.engine.program import Program
from fsl.timecalc import ceil_minute, next_cron, resolve_zone
from fsl.engine.timing import MINUTE

from .codec import epoch
from .schema import checks, contacts
from .segment_sql import _field, _Json, jsonb_fields, prefilter_moves

_FIXED_UNITS = ("seconds", "minutes", "hours")



@dataclass(frozen=True)
class PassOver:
    """How one playbook's false checks move on: `drop`, or a next time per zone."""
    playbook: str
    unmatched: ColumnElement  # NOT P over `contacts`
    drop: bool
    zone_field: str | None  # the contact field naming the zone, when the next time depends on it
    next_at: Callable[[str | None], datetime] | None  # raw zone value -> the next check
    parsed: Any = None  # PostgreSQL: LATERAL (contacts.fields::jsonb), joined after contacts

    def json(self, dialect: str) -> _Json:
        return _Json(dialect, self.parsed.c.doc if self.parsed is not None else None)

    def over_contacts(self, q: sa.Select) -> sa.Select:
        """q (which joins contacts) with the parsed fields its clauses read."""
        return q.join(self.parsed, sa.true()) if self.parsed is not None else q


def _parsed(dialect: str) -> Any:
    """PostgreSQL casts the text of `fields` to jsonb at every read; a LATERAL
    subquery (fenced by OFFSET 0, so it is not folded back in) casts it once per row."""
    if dialect != "postgresql":
        return None
    return sa.select(jsonb_fields().label("doc")).correlate(contacts).offset(0).lateral("parsed")


def plan_pass_over(prog: Program, dialect: str, t: datetime, lateral: bool = True) -> PassOver | None:
    """The pass-over of a playbook's checks due at t, or None to leave them all to the engine.
    lateral=False: its clauses read `contacts` alone (no parsed-fields join needed)."""
    ew, planned = prog.enroll_when, prog.plan.enroll_when  # the compiled form has one when the plan has one
    if ew is None or planned is None:
        return None
    parsed = _parsed(dialect) if lateral else None
    clause, moves = prefilter_moves(planned.cond, dialect, epoch(t), prog.plan.lets,
                                    parsed.c.doc if parsed is not None else None)
    if clause is None:
        return None
    unmatched = sa.not_(clause)
    if ew.check_cron is None and ew.check_every is None:
        # Until P can hold, every check the engine would make is false: the row may sleep
        # until data changes it (recheck) or time can change P.
        if not ew.time_dependent or not moves:
            return PassOver(prog.name, unmatched, True, None, None, parsed)
        if moves == {"day"}:
            midnight = datetime.combine(t.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
            return PassOver(prog.name, unmatched, False, None, lambda _: midnight, parsed)
        return PassOver(prog.name, unmatched, False, None, lambda _: t + MINUTE, parsed)
    every = ew.check_every
    zone_dependent = ew.check_cron is not None or (every is not None and every.unit not in _FIXED_UNITS)
    zone_field = None
    if zone_dependent:
        source = _zone_source(prog)
        if source is False:
            return None  # the zone comes from something SQL cannot group by
        zone_field = source

    def zone(raw: str | None):
        return resolve_zone(raw, prog.tz_default, prog.project_zone)

    if ew.check_cron is not None:
        cron = ew.check_cron
        return PassOver(prog.name, unmatched, False, zone_field, lambda raw: next_cron(cron, t, zone(raw)), parsed)
    if every is None:  # neither a cron nor an interval: returned above
        return None
    return PassOver(prog.name, unmatched, False, zone_field,
                    lambda raw: ceil_minute(add(t, every, zone(raw), prog.holidays)), parsed)


def _zone_source(prog: Program) -> str | None | Literal[False]:
    """The contact field the zone is read from; None when there is no
    expression (one zone for all); False when it is any other expression."""
    tree = prog.plan.timezone.expr
    if tree is None:
        return None
    name = _field(tree)
    return name if name is not None else False


# Rows moved per call, contacts per deploy statement: one is one transaction, so this
# bounds how long another writer waits (SQLite) and the memory of temporary tables.
CHUNK = 20_000
FIRST_CHUNK = 50_000


def pass_over(conn: Connection, programs: Iterable[Program], t: datetime, dialect: str,
              skip_locked: bool, limit: int | None = None) -> int:
    """Move on up to `limit` (CHUNK) due checks that cannot match; returns how
    many (call again until it returns 0)."""
    limit = limit or CHUNK
    done = 0
    for prog in programs:
        if done >= limit:
            break
        plan = plan_pass_over(prog, dialect, t)
        if plan is not None:
            done += _apply(conn, plan, epoch(t), plan.json(dialect), skip_locked, limit - done)
    return done


def _apply(conn: Connection, plan: PassOver, now: int, j: _Json, skip_locked: bool, limit: int) -> int:
    k = checks.alias("due")
    zone = _zone_value(j, plan.zone_field) if plan.zone_field is not None else None

    def due(*columns: ColumnElement, where: tuple = (), lock: bool = True) -> sa.Select:
        """The next `limit` due rows of the playbook that cannot match, in the due
        index's order: each chunk walks that index from the first row still due
        (moved rows are past `now`).  The planners take that index only when the
        playbook test cannot use the primary key, whose first column matches every
        row of the playbook (SQLite's sampled statistics do not always say so)."""
        q = (plan.over_contacts(sa.select(*columns).select_from(k).join(contacts, contacts.c.id == k.c.contact))
             .where(sa.func.coalesce(k.c.playbook, "") == plan.playbook, k.c.at <= now, plan.unmatched, *where)
             .order_by(k.c.at, k.c.rank, k.c.playbook, k.c.contact, k.c.deal).limit(limit))
        # Many workers: rows another worker claimed are its own (it evaluates them); never wait.
        return q.with_for_update(skip_locked=True, of=k) if skip_locked and lock else q

    # The outer terms repeat the subquery's so that the statement walks the due index, not the table.
    own = (checks.c.playbook == plan.playbook, checks.c.at <= now)
    keys = sa.tuple_(checks.c.playbook, checks.c.contact, checks.c.deal).in_(due(k.c.playbook, k.c.contact, k.c.deal))
    next_at = plan.next_at
    if plan.drop or next_at is None:  # one that drops has no next time, and only that one (plan_pass_over)
        return conn.execute(checks.delete().where(*own, keys)).rowcount or 0
    if zone is None:
        at = epoch(next_at(None))
        return conn.execute(checks.update().where(*own, keys).values(at=at)).rowcount or 0
    # The zones of the rows this call can move (at most `limit`: never a scan of all due rows).
    sample = due(zone.label("zone"), lock=False).subquery()
    values = list(conn.execute(sa.select(sample.c.zone).distinct()).scalars())
    if not values:
        return 0
    by_time: dict[int, list[Any]] = {}
    for raw in values:
        by_time.setdefault(epoch(next_at(raw)), []).append(raw)
    # One pass over the due rows (UPDATE ... FROM the due rows with their contact's zone):
    # each row's next time by that zone.  Only zones seen above are taken (one that
    # appeared since, from another writer, waits for the next call).
    moving = due(k.c.playbook, k.c.contact, k.c.deal, zone.label("zone"), where=(_one_of(zone, values),)
                 ).subquery("moving")
    stmt = (checks.update()
            .where(*own, checks.c.contact == moving.c.contact, checks.c.deal == moving.c.deal,
                   checks.c.playbook == moving.c.playbook)
            .values(at=sa.case(*[(_one_of(moving.c.zone, raws), at) for at, raws in sorted(by_time.items())],
                               else_=checks.c.at)))
    return conn.execute(stmt).rowcount or 0


def _one_of(value: ColumnElement, raws: list[Any]) -> ColumnElement:
    """value is one of these zone values (None among them: or NULL)."""
    named = [r for r in raws if r is not None]
    return sa.or_(*([value.in_(named)] if named else []), *([value.is_(None)] if None in raws else []))


def _zone_value(j: _Json, name: str) -> ColumnElement:
    """The zone field as the engine reads it: its text when it is a string, else NULL."""
    return sa.case((j.is_str(name), j.text(name)), else_=sa.null())


def first_check_filter(prog: Program, dialect: str, t: datetime) -> ColumnElement | None:
    """For a data-driven segment, the contacts worth a first check (P); None: all of them."""
    plan = plan_pass_over(prog, dialect, t, lateral=False)
    if plan is None or not plan.drop:
        return None
    return sa.not_(plan.unmatched)


def first_checks(db: Any, prog: Program, at: datetime, dialect: str, chunk: int | None = None) -> int | None:
    """Every candidate's first check (enrolling._first) by INSERT ... SELECT
    over the contacts -- only those with P for a data-driven segment -- a
    chunk of contacts per transaction; None when the playbook's candidates
    are contact-deal links or its zone is not a contact field (the engine
    schedules those contact by contact)."""
    ew = prog.enroll_when
    if ew is None or ew.uses_deal:
        return None
    zone_field = None
    if ew.check_cron is not None:
        source = _zone_source(prog)
        if source is False:
            return None
        zone_field = source
    plan = plan_pass_over(prog, dialect, at)
    parsed = plan.parsed if plan is not None else _parsed(dialect)
    only = sa.not_(plan.unmatched) if plan is not None and plan.drop else sa.true()
    j = _Json(dialect, parsed.c.doc if parsed is not None else None)
    zone = _zone_value(j, zone_field) if zone_field is not None else None
    firsts: dict[Any, int] = {}  # raw zone value -> first check

    def first(raw: Any) -> int:
        if raw not in firsts:
            z = resolve_zone(raw, prog.tz_default, prog.project_zone)
            firsts[raw] = epoch(ceil_minute(next_cron(ew.check_cron, at - MINUTE, z) if ew.check_cron else at))
        return firsts[raw]

    def over(q: sa.Select) -> sa.Select:
        return q.join(parsed, sa.true()) if parsed is not None else q

    done, last, chunk = 0, None, chunk or FIRST_CHUNK
    while True:
        with db.write() as conn:
            bound = conn.execute(sa.select(contacts.c.id).where(*([contacts.c.id > last] if last else []))
                                 .order_by(contacts.c.id).offset(chunk - 1).limit(1)).scalar()
            span = [c for c in ((contacts.c.id > last) if last else None,
                                (contacts.c.id <= bound) if bound is not None else None) if c is not None]
            done += _first_chunk(conn, prog, dialect, over, sa.and_(only, *span), zone, first)
        if bound is None:
            return done
        last = bound


def _first_chunk(conn: Connection, prog: Program, dialect: str, over: Callable, where: ColumnElement,
                 zone: ColumnElement | None, first: Callable[[Any], int]) -> int:
    if zone is None:
        n = conn.execute(over(sa.select(sa.func.count()).select_from(contacts)).where(where)).scalar() or 0
        when: ColumnElement = sa.literal(first(None))
    else:
        counts = conn.execute(over(sa.select(zone.label("zone"), sa.func.count()).select_from(contacts))
                              .where(where).group_by(zone)).all()
        n = sum(c for _, c in counts)
        by_time: dict[int, list[Any]] = {}
        for raw, _ in counts:
            by_time.setdefault(first(raw), []).append(raw)
        cases = [(_one_of(zone, raws), t) for t, raws in by_time.items()]
        when = sa.case(*cases, else_=sa.null()) if cases else sa.null()
    if not n:
        return 0
    rows = over(sa.select(sa.literal(prog.name), contacts.c.id, sa.literal(""), when, sa.literal(prog.order[0]))
                .select_from(contacts)).where(where, when.is_not(None))
    stmt = _insert(dialect).from_select(["playbook", "contact", "deal", "at", "rank"], rows)
    conn.execute(stmt.on_conflict_do_update(index_elements=["playbook", "contact", "deal"],
                                            set_={"at": stmt.excluded.at, "rank": stmt.excluded.rank}))
    return n  # (psycopg gives no row count for INSERT ... SELECT ... ON CONFLICT)


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(checks)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(checks)
