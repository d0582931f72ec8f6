"""executemany on the driver, for the rows a batch writes by the thousand.

SQLAlchemy Core's executemany processes every parameter set in Python
(bind processors, dict lookups): a few microseconds a row, which is a large
part of a tick that writes five rows per step.  The batch's hot statements
(enrollment updates, actions, journal, claimed events) are simple, typeless
INSERT / UPDATE by key, so they go to the driver as tuples with SQL text
built here for the dialect's placeholder style (qmark on SQLite, format on
psycopg).  Everything else keeps using Core.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

from sqlalchemy import Table
from sqlalchemy.engine import Connection


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@lru_cache(maxsize=64)
def _insert_sql(dialect: str, mark: str, table: str, columns: tuple[str, ...], ignore: bool) -> str:
    cols = ", ".join(columns)
    marks = ", ".join([mark] * len(columns))
    if not ignore:
        return f"INSERT INTO {table} ({cols}) VALUES ({marks})"
    if dialect == "sqlite":
        return f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({marks})"
    return f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"


@lru_cache(maxsize=64)
def _update_sql(mark: str, table: str, columns: tuple[str, ...], key: str) -> str:
    sets = ", ".join(f"{c} = {mark}" for c in columns)
    return f"UPDATE {table} SET {sets} WHERE {key} = {mark}"


@lru_cache(maxsize=64)
def _upsert_sql(mark: str, table: str, columns: tuple[str, ...], key: str) -> str:
    cols = ", ".join(columns)
    marks = ", ".join([mark] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {sets}"


def upsert(conn: Connection, table: Table, columns: Sequence[str], key: str, rows: Iterable[tuple]) -> None:
    """INSERT rows, or UPDATE the other columns of the row with the same `key`
    (the same SQL on SQLite and PostgreSQL)."""
    rows = list(rows)
    if rows:
        conn.exec_driver_sql(_upsert_sql(_mark(conn), table.name, tuple(columns), key), rows)


def insert(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple], *,
           ignore: bool = False) -> None:
    """INSERT rows (tuples in `columns` order); `ignore` skips rows whose unique key exists."""
    rows = list(rows)
    if rows:
        sql = _insert_sql(conn.dialect.name, _mark(conn), table.name, tuple(columns), ignore)
        conn.exec_driver_sql(sql, rows)


def update(conn: Connection, table: Table, columns: Sequence[str], key: str, rows: Iterable[tuple]) -> None:
    """UPDATE table SET columns WHERE key = ...; each row is (*values, key value)."""
    rows = list(rows)
    if rows:
        conn.exec_driver_sql(_update_sql(_mark(conn), table.name, tuple(columns), key), rows)
