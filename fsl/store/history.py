"""Send history for caps and for resolving which message an event names.

Caps ask `send_times(scope)`: the sorted instants of the sends counted in a
scope (fsl/engine/memstore.py `send_scopes`).  Every scope is owned by one
*source* whose action rows determine it completely:

    ("contact", c, ch), ("playbook", pb, c, ch)   <- the contact's actions
    ("deal", pb, d, ch)                           <- the deal's actions
    ("enrollment", e, ch)                         <- the enrollment's actions

A source is loaded with one query (for a whole batch at once by
`prefetch`), after which all its scopes are answered from memory; actions
recorded in the current transaction (not yet written) are merged in.  Rolling
caps only look back their window, so contact and deal sources load only
actions after `horizon` (set per instant by the tick); `total` caps need the
enrollment's whole history, so enrollment sources load everything -- an
enrollment's own sends are few.

Every recorded send counts, whatever became of its delivery (cancelled,
failed): the same store state gives the same decisions as the simulator,
which never delivers anything.
"""
from __future__ import annotations

import bisect
from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.engine.model import ActionRecord
from fsl.engine.memstore import Scope, send_scopes

from .codec import epoch, instant
from .members import one_of
from .rows import action_from
from .schema import actions

_COUNTED = ("send", "task", "notify")
_COLS = (actions.c.contact, actions.c.deal, actions.c.playbook, actions.c.enrollment, actions.c.kind,
         actions.c.channel, actions.c.at)


def source_of(scope: Scope) -> tuple[str, object]:
    kind = scope[0]
    if kind == "contact":
        return "c", scope[1]
    if kind == "playbook":
        return "c", scope[2]
    if kind == "deal":
        return "d", scope[2]
    return "e", scope[1]


class _Light:
    """The few fields of an action that `send_scopes` reads."""

    __slots__ = ("kind", "channel", "contact", "playbook", "deal", "enrollment", "at")

    def __init__(self, row) -> None:
        self.contact, self.deal, self.playbook, self.enrollment, self.kind, self.channel, at = row
        self.at = instant(at)


class SendHistory:
    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.horizon: datetime | None = None
        self.reset()

    def reset(self) -> None:
        self._sends: dict[Scope, list[datetime]] = {}
        self._loaded: set[tuple[str, object]] = set()
        self._new: list[ActionRecord] = []
        self._new_msgs: dict[tuple[str, str], list[ActionRecord]] = {}

    def _c(self) -> Connection:
        if self.conn is None:  # the store sets it for its transaction or snapshot (sqlstore.py)
            raise RuntimeError("SendHistory: read inside store.transaction() or store.snapshot()")
        return self.conn

    # ----------------------------------------------------------- reading
    def times(self, scope: Scope) -> Sequence[datetime]:
        got = self._sends.get(scope)
        if got is not None:
            return got
        src = source_of(scope)
        if src not in self._loaded:
            self.prefetch([src])
            got = self._sends.get(scope)
        return got if got is not None else ()

    def prefetch(self, sources: Iterable[tuple[str, object]]) -> None:
        """Load the sources not loaded yet, one query per kind of source."""
        conn = self._c()
        todo: dict[str, list] = {"c": [], "d": [], "e": []}
        for src in sources:
            if src not in self._loaded:
                todo[src[0]].append(src[1])
        for kind, column, windowed in (("c", actions.c.contact, True), ("d", actions.c.deal, True),
                                       ("e", actions.c.enrollment, False)):
            keys = sorted(set(todo[kind]))
            if not keys:
                continue
            fresh = {(kind, k) for k in keys}
            touched: set[Scope] = set()
            for i in range(0, len(keys), 500):
                q = sa.select(*_COLS).where(one_of(conn, column, keys[i:i + 500]), actions.c.kind.in_(_COUNTED))
                if windowed and self.horizon is not None:
                    q = q.where(actions.c.at > epoch(self.horizon))
                for row in conn.execute(q):
                    self._add(_Light(row), fresh, touched)
            for rec in self._new:
                self._add(rec, fresh, touched)
            for scope in touched:
                self._sends[scope].sort()
            self._loaded |= fresh

    def _add(self, rec, fresh: set, touched: set) -> None:
        for scope in send_scopes(rec):
            if source_of(scope) in fresh:
                self._sends.setdefault(scope, []).append(rec.at)
                touched.add(scope)

    def message(self, contact_id: str, step: str, before: datetime) -> ActionRecord | None:
        """The latest send to the contact by a step of that name at or before `before`."""
        row = self._c().execute(
            sa.select(actions).where(actions.c.contact == contact_id, actions.c.step == step,
                                     actions.c.kind == "send", actions.c.at <= epoch(before))
            .order_by(actions.c.at.desc(), actions.c.id.desc()).limit(1)).mappings().first()
        best = action_from(row)[0] if row is not None else None
        for rec in self._new_msgs.get((contact_id, step), ()):
            if rec.at <= before:
                best = rec
        return best

    # ----------------------------------------------------------- writing
    def add(self, rec: ActionRecord) -> None:
        """A record decided in this transaction: counted from now on."""
        self._new.append(rec)
        if rec.kind == "send":
            self._new_msgs.setdefault((rec.contact, rec.step), []).append(rec)
        if rec.kind not in _COUNTED:
            return
        for scope in send_scopes(rec):
            if source_of(scope) in self._loaded:
                lst = self._sends.setdefault(scope, [])
                if lst and lst[-1] > rec.at:
                    bisect.insort(lst, rec.at)
                else:
                    lst.append(rec.at)
