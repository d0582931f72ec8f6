"""fsl.store.bulk: on SQLite many rows go as multi-row INSERTs (VALUES_ROWS a statement, then
powers of two, the last few by executemany).  Whatever the number of rows and columns, the
table ends as row-by-row statements leave it: the same rows in the same order (rowids), the
first of two equal keys kept by INSERT OR IGNORE, the last by an upsert; and a failing INSERT
fails as a whole transaction would."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from fsl.store import bulk

from .test_pg_support import pg_url  # noqa: F401 - a fixture


def _table(columns: int) -> sa.Table:
    meta = sa.MetaData()
    return sa.Table("t", meta, sa.Column("k", sa.Integer, primary_key=False, unique=True),
                    *(sa.Column(f"c{i}", sa.Text) for i in range(columns - 1)))


def _engine(url: str = "sqlite://") -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _row_by_row(conn: sa.Connection, table: sa.Table, rows: list[tuple], mode: str) -> None:
    names = [c.name for c in table.columns]
    for row in rows:
        values = dict(zip(names, row))
        if mode == "insert":
            conn.execute(table.insert().values(values))
        elif mode == "ignore":
            conn.execute(table.insert().values(values).prefix_with("OR IGNORE"))
        else:
            stmt = sa.dialects.sqlite.insert(table).values(values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["k"], set_={n: stmt.excluded[n] for n in names[1:]}))


def _bulk(conn: sa.Connection, table: sa.Table, rows: list[tuple], mode: str) -> None:
    names = [c.name for c in table.columns]
    if mode == "upsert":
        bulk.upsert(conn, table, names, "k", rows)
    else:
        bulk.insert(conn, table, names, rows, ignore=mode == "ignore")


def _contents(conn: sa.Connection, table: sa.Table) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sa.text("SELECT rowid, * FROM t ORDER BY rowid"))]


def _same_as_row_by_row(rows: list[tuple], columns: int, mode: str) -> None:
    table = _table(columns)
    results = []
    for write in (_row_by_row, _bulk):
        engine = _engine()
        with engine.begin() as conn:
            table.metadata.create_all(conn)
            write(conn, table, rows, mode)
            results.append(_contents(conn, table))
        engine.dispose()
    assert results[0] == results[1]


@pytest.mark.parametrize("n", [0, 1, bulk.MANY_ROWS - 1, bulk.MANY_ROWS, bulk.MANY_ROWS + 1, 1000, 1001, 2500])
@pytest.mark.parametrize("mode", ["insert", "ignore", "upsert"])
def test_any_number_of_rows_is_written_as_row_by_row(n, mode):
    rows = [(i, f"a{i}", None if i % 7 == 0 else "x" * (i % 5)) for i in range(n)]
    _same_as_row_by_row(rows, 3, mode)


def test_many_columns_keep_a_statement_within_sqlites_parameter_limit():
    columns = 60  # 1000 rows would be 60,000 parameters: the statements are of 546 rows
    rows = [(i, *(f"{i}.{j}" for j in range(columns - 1))) for i in range(1200)]
    _same_as_row_by_row(rows, columns, "insert")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.one_of(st.none(), st.text(max_size=5))), max_size=300),
       st.sampled_from(["ignore", "upsert"]))
def test_equal_keys_in_one_batch_end_as_row_by_row(rows, mode):
    """INSERT OR IGNORE keeps a key's first row, an upsert its last, within one statement too."""
    _same_as_row_by_row(rows, 2, mode)


def test_a_failing_insert_raises_and_leaves_nothing_once_rolled_back():
    table = _table(2)
    engine = _engine()
    with engine.begin() as conn:
        table.metadata.create_all(conn)
    rows = [(i, "x") for i in range(100)] + [(5, "again")]
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            bulk.insert(conn, table, ["k", "c0"], rows)
    with engine.connect() as conn:
        assert _contents(conn, table) == []
    engine.dispose()


def test_postgresql_writes_the_same_rows(pg_url):  # noqa: F811 - the fixture
    table = _table(3)
    rows = [(i, f"a{i}", None) for i in range(40)]
    engine = _engine(pg_url)
    with engine.begin() as conn:
        table.metadata.create_all(conn)
        bulk.insert(conn, table, ["k", "c0", "c1"], rows)
        bulk.insert(conn, table, ["k", "c0", "c1"], [(1, "dup", None), (99, "new", None)], ignore=True)
        bulk.upsert(conn, table, ["k", "c0", "c1"], "k", [(2, "up", "y"), (100, "n", None)])
        got = {r.k: (r.c0, r.c1) for r in conn.execute(sa.select(table))}
    engine.dispose()
    assert len(got) == 42 and got[1] == ("a1", None) and got[2] == ("up", "y") and got[99] == ("new", None)
