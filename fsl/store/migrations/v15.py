"""Migration 15: the outbox's writes stop paying for two indexes of every send.

* `ix_actions_message_id` (v10) is dropped: a Message-ID sent from now on
  names its enrollment, and replies are matched through that enrollment's
  sends (fsl.store.sent).  The Message-IDs already sent (the older form, with
  no enrollment) keep a partial index of their own, `ix_actions_legacy_message_id`,
  which new sends never enter.
* `ix_actions_sends` (v11) is dropped: the sends made inside a split's
  variants, all that its test reads, are listed in `split_sends`, written
  with them; filled here from the sends already stored.

Frozen: the DDL as it was when version 15 was written, with its own MetaData
(tests/test_migrations.py replays every version and compares the result with
a fresh store).
"""
from __future__ import annotations

import json

from sqlalchemy import Column, Index, MetaData, String, Table, text
from sqlalchemy.engine import Connection

metadata = MetaData()
Name = String(200)

split_sends = Table(
    "split_sends", metadata,
    Column("playbook", Name, primary_key=True),
    Column("step", Name, primary_key=True),
    Column("action_key", String(400), primary_key=True),
)

# only the column the new index names: the table itself exists since version 1
actions = Table("actions", metadata, Column("message_id", String(300)))
_legacy = "substr(message_id, 34, 5) = '.fsl@'"  # `<`, 32 hex digits, `.fsl@`: the form sent before v15
ix_actions_legacy_message_id = Index("ix_actions_legacy_message_id", actions.c.message_id,
                                     sqlite_where=text(_legacy), postgresql_where=text(_legacy))

_CHUNK = 5000


def apply(conn: Connection) -> None:
    """Two indexes dropped, one partial index and one table created, the table filled."""
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_actions_message_id")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_actions_sends")
    ix_actions_legacy_message_id.create(conn, checkfirst=True)
    split_sends.create(conn, checkfirst=True)
    _fill_split_sends(conn)


def _fill_split_sends(conn: Connection) -> None:
    """Every stored send whose action data names a split (`{"data": {"split": ...}}`
    in its payload), read once in id order: the LIKE only narrows, the JSON decides."""
    last = 0
    while True:
        rows = conn.execute(text(
            "SELECT id, playbook, step, key, payload FROM actions WHERE kind = 'send' AND id > :last "
            "AND payload LIKE '%\"split\"%' ORDER BY id LIMIT :n"), {"last": last, "n": _CHUNK}).all()
        if not rows:
            return
        last = rows[-1][0]
        found = [{"playbook": pb, "step": step, "action_key": key} for _, pb, step, key, payload in rows
                 if _names_split(payload)]
        if found:
            conn.execute(split_sends.insert(), found)


def _names_split(payload: str) -> bool:
    try:
        data = json.loads(payload).get("data")
    except (ValueError, AttributeError):
        return False
    return isinstance(data, dict) and "split" in data
