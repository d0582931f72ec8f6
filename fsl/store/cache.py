"""The render cache in the store (fsl.llm.cache.RenderCache protocol).

An LLM-written message is rendered once per key and reused: after a crash,
or by a second worker, the step sends the identical text.  `put` keeps the
first value written (first writer wins) and returns what is stored.
"""
from __future__ import annotations

import time

import sqlalchemy as sa

from .db import Database, insert_ignore
from .schema import render_cache


class SqlRenderCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(sa.select(render_cache.c.value).where(render_cache.c.key == key)).scalar()

    def put(self, key: str, value: str) -> str:
        with self.db.write() as conn:
            conn.execute(insert_ignore(self.db, render_cache).values(key=key, value=value,
                                                                      created_at=int(time.time())))
            # the row exists now: this writer's or the first one's
            return conn.execute(sa.select(render_cache.c.value).where(render_cache.c.key == key)).scalar_one()

    def put_many(self, values: dict[str, str]) -> dict[str, str]:
        """`put` for many keys in one transaction: key -> the value stored (the first writer's)."""
        if not values:
            return {}
        now = int(time.time())
        with self.db.write() as conn:
            conn.execute(insert_ignore(self.db, render_cache),
                         [{"key": k, "value": v, "created_at": now} for k, v in values.items()])
            keys = list(values)
            stored: dict[str, str] = {}
            for i in range(0, len(keys), 500):
                q = sa.select(render_cache.c.key, render_cache.c.value).where(render_cache.c.key.in_(keys[i:i + 500]))
                stored.update((k, v) for k, v in conn.execute(q))
        return stored
