"""What the inbox keeps in the store: the last UID per mailbox and UIDVALIDITY, and unmatched mail."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.store.codec import epoch, instant
from fsl.store.schema import inbox_state, inbox_unmatched

MAX_HEADERS = 16_000  # characters of a header block kept with an unmatched message


def last_uid(conn: Connection, mailbox: str, uidvalidity: int) -> int:
    """The last UID read under this UIDVALIDITY; 0 when none (a new mailbox, or the server
    renumbered it: everything is read again, and what was recorded is not recorded twice)."""
    row = conn.execute(sa.select(inbox_state.c.last_uid).where(
        inbox_state.c.mailbox == mailbox, inbox_state.c.uidvalidity == uidvalidity)).first()
    return int(row[0]) if row is not None else 0


def set_last_uid(conn: Connection, mailbox: str, uidvalidity: int, uid: int, at: datetime) -> None:
    t = inbox_state
    done = conn.execute(sa.update(t).where(t.c.mailbox == mailbox, t.c.uidvalidity == uidvalidity,
                                           t.c.last_uid < uid).values(last_uid=uid, at=epoch(at)))
    if done.rowcount == 0 and last_uid(conn, mailbox, uidvalidity) == 0:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t).values(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=uid, at=epoch(at)))
        except sa.exc.IntegrityError:
            pass  # another reader stored it first; its UID is as good


def store_unmatched(conn: Connection, *, dedup: str, mailbox: str, uid: int | None, at: datetime, sender: str,
                    subject: str, label: str, evidence: tuple[str, ...], headers: str) -> bool:
    """Keep a message that matched nothing; False when it was kept already."""
    exists = conn.execute(sa.select(inbox_unmatched.c.id).where(inbox_unmatched.c.dedup == dedup)).first()
    if exists is not None:
        return False
    conn.execute(sa.insert(inbox_unmatched).values(
        dedup=dedup, mailbox=mailbox, uid=uid, at=epoch(at), sender=sender[:320], subject=subject[:2000],
        label=label, evidence=json.dumps(list(evidence), ensure_ascii=False), headers=headers[:MAX_HEADERS]))
    return True


def unmatched_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(inbox_unmatched)).scalar() or 0)


def unmatched_rows(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(inbox_unmatched).order_by(inbox_unmatched.c.id.desc()).limit(limit)).mappings()
    return [{"id": r["id"], "at": instant(r["at"]).isoformat() if r["at"] is not None else None,
             "mailbox": r["mailbox"], "uid": r["uid"], "from": r["sender"], "subject": r["subject"],
             "label": r["label"], "evidence": json.loads(r["evidence"] or "[]"), "dedup": r["dedup"]}
            for r in rows]


def summary(conn: Connection) -> dict[str, Any]:
    """`fsl status`'s "inbox": unmatched mail and what was read last."""
    last = conn.execute(sa.select(sa.func.max(inbox_state.c.at))).scalar()
    return {"unmatched": unmatched_count(conn), "last_read": instant(last).isoformat() if last else None,
            "mailboxes": int(conn.execute(sa.select(sa.func.count()).select_from(inbox_state)).scalar() or 0)}
