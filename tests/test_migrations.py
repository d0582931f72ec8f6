"""Migrations cannot drift: a store built at every historical version from the
frozen migrations, then upgraded, is the same as a fresh store -- compared by
alembic's `compare_metadata` (tables, columns, types, nullability, indexes,
unique constraints) on SQLite and on PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fsl.store import open_store, schema_version, upgrade
from fsl.store.db import Database
from fsl.store.migrations import MIGRATIONS, _stamp, current_version
from fsl.store.schema import meta, metadata

from .test_pg_support import pg_urls  # noqa: F401 - the fixture

VERSIONS = [m.version for m in MIGRATIONS]


def _build_at(url: str, version: int):
    """A database as release `version` created it: migrations 1..version, stamped."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for m in MIGRATIONS:
            if m.version > version:
                break
            m.apply(conn)
        meta.create(conn, checkfirst=True)
        _stamp(conn, version)
    engine.dispose()


def _differences(db) -> list:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    return diffs


def _sequences(db) -> set[str]:
    with db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return set()
        return set(sa.inspect(conn).get_sequence_names())


def _check(url_at_version, fresh_url: str) -> None:
    fresh = open_store(fresh_url)
    assert _differences(fresh) == []  # the comparison itself is sound: a fresh store matches schema.py
    want_sequences = _sequences(fresh)
    fresh.dispose()
    for version in VERSIONS:
        url = url_at_version(version)
        _build_at(url, version)
        db = Database(url)  # as `fsl db upgrade` opens it
        before, after, ran = upgrade(db)
        assert (before, after) == (version, schema_version())
        assert [m.version for m in ran] == [v for v in VERSIONS if v > version]
        with db.read() as conn:
            assert current_version(conn) == schema_version()
        assert _differences(db) == [], f"a store made at version {version} and upgraded differs from a fresh one"
        assert _sequences(db) == want_sequences
        db.dispose()


def test_every_version_upgrades_to_the_fresh_schema_on_sqlite(tmp_path: Path) -> None:
    _check(lambda v: f"sqlite:///{tmp_path}/v{v}.db", f"sqlite:///{tmp_path}/fresh.db")


def test_every_version_upgrades_to_the_fresh_schema_on_postgresql(pg_urls) -> None:  # noqa: F811
    driver = "postgresql+psycopg://"
    _check(lambda v: pg_urls().replace("postgresql://", driver, 1), pg_urls().replace("postgresql://", driver, 1))


def test_the_comparison_sees_a_drift(tmp_path: Path) -> None:
    """A migration that forgot a column would be caught."""
    url = f"sqlite:///{tmp_path}/drift.db"
    db = open_store(url)
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("ALTER TABLE contacts ADD COLUMN nickname TEXT")
    diffs = _differences(db)
    db.dispose()
    assert {d[0] for d in diffs} >= {"remove_table", "remove_column"}


@pytest.mark.parametrize("version", VERSIONS)
def test_each_migration_is_frozen(version: int) -> None:
    """A migration module never reads schema.py's live tables."""
    source = Path(__file__).resolve().parents[1] / "fsl" / "store" / "migrations" / f"v{version}.py"
    assert "schema import" not in source.read_text()
