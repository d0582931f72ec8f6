"""The store's schema: versions, migrations, refusal of newer schemas, the codec."""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from fsl.engine.evaluate import Dur
from fsl.store import SchemaTooNew, SchemaTooOld, StoreError, open_store, schema_version, upgrade
from fsl.store import migrations
from fsl.store.codec import dumps, epoch, instant, loads
from fsl.store.db import Database
from fsl.store.migrations import Migration, current_version
from fsl.store.plans import set_meta

from .test_ops_support import cli, make_project

UTC = timezone.utc


def _set_version(db: Database, version: int) -> None:
    with db.write() as conn:
        set_meta(conn, "schema_version", str(version))


def test_an_empty_database_is_created_at_the_current_version(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path}/sub/dir/fsl.db")  # folders are made too
    with db.read() as conn:
        assert current_version(conn) == schema_version()
        names = set(sa.inspect(conn).get_table_names())
    assert {"plans", "contacts", "deals", "stakeholders", "events", "enrollments", "checks", "actions", "tasks",
            "journal", "render_cache", "fsl_meta"} <= names
    with db.read() as conn:  # WAL mode: readers never wait for the tick
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fsl.db"
    db = open_store(url)
    _set_version(db, schema_version() + 1)
    db.dispose()
    with pytest.raises(SchemaTooNew, match="newer than this fsl knows"):
        open_store(url)
    with pytest.raises(SchemaTooNew):
        upgrade(Database(url))


def test_the_commands_refuse_a_newer_schema_with_exit_2(tmp_path: Path) -> None:
    make_project(tmp_path)
    db = open_store(f"sqlite:///{tmp_path}/fsl.db")
    _set_version(db, 99)
    db.dispose()
    for args in (["tick"], ["status"], ["deploy"], ["db", "upgrade"]):
        result = cli(*args, cwd=tmp_path)
        assert result.exit_code == 2, args
        assert "newer" in result.stderr


def test_an_older_schema_asks_for_db_upgrade_which_runs_the_migrations(tmp_path: Path, monkeypatch) -> None:
    make_project(tmp_path)
    url = f"sqlite:///{tmp_path}/fsl.db"
    db = open_store(url)
    db.dispose()

    def add_column(conn) -> None:
        conn.exec_driver_sql("ALTER TABLE contacts ADD COLUMN nickname TEXT")

    current = migrations.schema_version()
    newer = current + 1  # a release after this one adds a column
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, Migration(newer, "contacts.nickname", add_column)])
    with pytest.raises(SchemaTooOld, match="fsl db upgrade"):
        open_store(url)
    result = cli("tick", cwd=tmp_path)
    assert result.exit_code == 2 and "fsl db upgrade" in result.stderr
    result = cli("db", "upgrade", "--format", "json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert f'"before": {current}' in result.stdout and f'"after": {newer}' in result.stdout
    db = open_store(url)
    with db.read() as conn:
        assert "nickname" in {c["name"] for c in sa.inspect(conn).get_columns("contacts")}
    db.dispose()
    again = cli("db", "upgrade", cwd=tmp_path)
    assert again.exit_code == 0 and f"up to date (version {newer})" in again.stdout


def test_db_upgrade_creates_a_fresh_store(tmp_path: Path) -> None:
    make_project(tmp_path)
    result = cli("db", "upgrade", cwd=tmp_path)
    assert result.exit_code == 0 and "created the store schema" in result.stdout
    assert (tmp_path / "fsl.db").exists()


def test_a_foreign_database_is_not_filled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/other.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contacts (x INTEGER)")
    engine.dispose()
    with pytest.raises(StoreError, match="not created by fsl"):
        open_store(url)


def test_bad_store_urls_are_reported(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        open_store("mysql://nobody@localhost/x")
    with pytest.raises(StoreError):
        open_store("not a url")


def test_codec_round_trips_what_the_engine_keeps() -> None:
    value = {"t": datetime(2026, 11, 23, 14, 5, tzinfo=UTC), "d": date(2026, 12, 1), "dur": Dur(3, "days"),
             "nested": [1, 2.5, None, True, "x", {"t": datetime(2027, 1, 1, tzinfo=UTC)}]}
    assert loads(dumps(value)) == value
    t = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
    assert instant(epoch(t)) == t and epoch(None) is None and instant(None) is None
