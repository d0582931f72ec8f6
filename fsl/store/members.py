"""`column IN (values)` with one bound parameter, however many the values.

SQLAlchemy renders `column.in_(list)` with a placeholder per value and
processes every value at each execution: about 2 microseconds a value
(measured on a batch's event lookup over 500 contacts: 2.3 µs a contact
through `in_`, 0.4 µs with one parameter).  A tick's batch asks for its
contacts, their events, their send history and their enrollments that way.
Here the list travels as one parameter -- a JSON array read by `json_each`
on SQLite, an array compared with `= ANY` on PostgreSQL -- so the statement
compiles once and the database, not Python, walks the list.  Both forms
use the column's index (SQLite: `SEARCH ... USING INDEX (col=?)` over the
`json_each` list; PostgreSQL: an index scan on `= ANY(array)`).
"""
from __future__ import annotations

from typing import Iterable

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection


def one_of(conn: Connection, column: sa.ColumnElement, values: Iterable) -> sa.ColumnElement[bool]:
    """The condition `column IN values` for a statement run on `conn`."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    listed = sa.func.json_each(sa.bindparam(None, orjson.dumps(values).decode(), type_=sa.Text))
    return column.in_(sa.select(listed.table_valued("value").c.value))
