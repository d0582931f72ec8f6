"""Sends found by the Message-ID we gave them (fsl.delivery.message.message_id),
with no index on `actions.message_id` for the outbox's writes to keep up.

* A Message-ID of the current form names its enrollment: its sends are found
  through `ix_actions_enrollment` (a handful of rows), and the one whose stored
  Message-ID equals the reference, whole, is the send.  A forged or altered
  reference (another enrollment, another digest, another domain) equals no
  stored id and matches nothing.
* A legacy Message-ID (sent before schema v15) names nothing we can read back:
  it is found through `ix_actions_legacy_message_id`, a partial index holding
  only the legacy ids (schema.LEGACY_MESSAGE_ID), so new sends never write to it.
* Anything else is not ours and costs no query.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from fsl.delivery.message import reference

from .schema import LEGACY_MESSAGE_ID, actions

CHUNK = 500  # references per query


def references(ids: Iterable[str]) -> dict[str, str]:
    """Our Message-IDs among `ids`: each as given -> as stored (`<...>`)."""
    out: dict[str, str] = {}
    for given in ids:
        if len(given) > 300:
            continue
        ref = reference(given)
        if ref is not None:
            out[given] = ref.message_id
    return out


def sends_by_message_id(conn: Connection, ids: Iterable[str],
                        columns: Sequence[sa.ColumnElement[Any]]) -> list[RowMapping]:
    """The sends whose stored Message-ID is one of `ids` (brackets optional),
    each row with `columns` and `message_id`, in no particular order."""
    wanted = set(references(ids).values())
    if not wanted:
        return []
    a = actions.c
    by_enrollment: dict[int, set[str]] = {}
    legacy: list[str] = []
    for mid in sorted(wanted):
        ref = reference(mid)
        if ref is not None and ref.enrollment is not None:
            by_enrollment.setdefault(ref.enrollment, set()).add(mid)
        else:
            legacy.append(mid)
    cols = [*columns, a.message_id] if a.message_id not in columns else list(columns)
    rows: list[RowMapping] = []
    enrollments = sorted(by_enrollment)
    for i in range(0, len(enrollments), CHUNK):
        part = enrollments[i:i + CHUNK]
        mids = sorted({m for e in part for m in by_enrollment[e]})
        q = sa.select(*cols).where(a.enrollment.in_(part), a.kind == "send", a.message_id.in_(mids))
        rows += list(conn.execute(q).mappings())
    for i in range(0, len(legacy), CHUNK):
        # the literal condition is the partial index's own: what lets the planner use it
        q = sa.select(*cols).where(a.message_id.in_(legacy[i:i + CHUNK]), a.kind == "send", sa.text(LEGACY_MESSAGE_ID))
        rows += list(conn.execute(q).mappings())
    return rows
