"""executemany on the driver, for the rows a batch writes by the thousand.

SQLAlchemy Core's executemany processes every parameter set in Python
(bind processors, dict lookups): a few microseconds a row, which is a large
part of a tick that writes five rows per step.  The batch's hot statements
(enrollment updates, actions, journal, claimed events) are simple, typeless
INSERT / UPDATE by key, so they go to the driver as tuples with SQL text
built here for the dialect's placeholder style (qmark on SQLite, format on
psycopg).  Everything else keeps using Core.

On SQLite many rows go as multi-row INSERTs (`VALUES (...), (...)`, up to
VALUES_ROWS rows a statement) rather than executemany: the same rows and
the same outcome (a statement is atomic, and the callers' transaction ends
on any error anyway) for a fifth less time (1M contacts rows: 2.7 s against
3.3 s; docs/DECISIONS.md, stop 15).  PostgreSQL keeps executemany: psycopg
pipelines it, and a multi-row upsert there may not touch one row twice.
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from sqlalchemy import Table
from sqlalchemy.engine import Connection


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


VALUES_ROWS = 1000  # rows a multi-row INSERT carries on SQLite
MAX_PARAMS = 32766  # SQLite's limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER, since 3.32)
MANY_ROWS = 16  # fewer rows go by executemany (a statement of their own is not worth preparing)


def _values(mark: str, columns: tuple[str, ...], rows: int) -> str:
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    return ", ".join([one] * rows)


@lru_cache(maxsize=256)
def _insert_sql(dialect: str, mark: str, table: str, columns: tuple[str, ...], ignore: bool, rows: int = 1) -> str:
    cols = ", ".join(columns)
    marks = _values(mark, columns, rows)
    if not ignore:
        return f"INSERT INTO {table} ({cols}) VALUES {marks}"
    if dialect == "sqlite":
        return f"INSERT OR IGNORE INTO {table} ({cols}) VALUES {marks}"
    return f"INSERT INTO {table} ({cols}) VALUES {marks} ON CONFLICT DO NOTHING"


@lru_cache(maxsize=64)
def _update_sql(mark: str, table: str, columns: tuple[str, ...], key: str) -> str:
    sets = ", ".join(f"{c} = {mark}" for c in columns)
    return f"UPDATE {table} SET {sets} WHERE {key} = {mark}"


@lru_cache(maxsize=256)
def _upsert_sql(mark: str, table: str, columns: tuple[str, ...], key: str, rows: int = 1) -> str:
    cols = ", ".join(columns)
    marks = _values(mark, columns, rows)
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return f"INSERT INTO {table} ({cols}) VALUES {marks} ON CONFLICT ({key}) DO UPDATE SET {sets}"


def upsert(conn: Connection, table: Table, columns: Sequence[str], key: str, rows: Iterable[tuple]) -> None:
    """INSERT rows, or UPDATE the other columns of the row with the same `key`
    (the same SQL on SQLite and PostgreSQL)."""
    names = tuple(columns)
    _run(conn, list(rows), len(names), lambda n: _upsert_sql(_mark(conn), table.name, names, key, n))


def insert(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple], *,
           ignore: bool = False) -> None:
    """INSERT rows (tuples in `columns` order); `ignore` skips rows whose unique key exists."""
    names = tuple(columns)
    _run(conn, list(rows), len(names),
         lambda n: _insert_sql(conn.dialect.name, _mark(conn), table.name, names, ignore, n))


def _run(conn: Connection, rows: list[tuple], columns: int, sql: Callable[[int], str]) -> None:
    """Run `sql(n)` (an INSERT of n rows) over `rows`, in order: on SQLite as
    multi-row statements of VALUES_ROWS rows, then of powers of two (so that a
    table has a few statements to prepare and cache, not one per batch size),
    the last rows fewer than MANY_ROWS by executemany; elsewhere all by executemany."""
    done = 0
    if conn.dialect.name == "sqlite":
        size = max(1, min(VALUES_ROWS, MAX_PARAMS // max(columns, 1)))
        while len(rows) - done >= MANY_ROWS:
            n = min(size, 1 << ((len(rows) - done).bit_length() - 1))
            conn.exec_driver_sql(sql(n), tuple(itertools.chain.from_iterable(rows[done:done + n])))
            done += n
    if done < len(rows):
        conn.exec_driver_sql(sql(1), rows[done:])


def update(conn: Connection, table: Table, columns: Sequence[str], key: str, rows: Iterable[tuple]) -> None:
    """UPDATE table SET columns WHERE key = ...; each row is (*values, key value)."""
    rows = list(rows)
    if rows:
        conn.exec_driver_sql(_update_sql(_mark(conn), table.name, tuple(columns), key), rows)
