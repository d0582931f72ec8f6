"""PostgreSQL for the scale-out tests: a fresh schema per test, dropped afterwards.

FSL_TEST_POSTGRES_URL unset: the tests skip.  Set but unreachable: they
fail -- a CI that asked for PostgreSQL must not go green without it.

No test lives here; the module is named so that it sits with the tests it
serves.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from .conftest import postgres_url


def _driver(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url():
    url = postgres_url()
    if not url:
        pytest.skip("FSL_TEST_POSTGRES_URL is not set")
    schema = f"fsl_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(_driver(url), connect_args={"connect_timeout": 5})
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # noqa: BLE001 - set but unreachable: a failure, not a skip
        pytest.fail(f"FSL_TEST_POSTGRES_URL={url} is set but unusable: {type(exc).__name__}: {exc}")
    try:
        yield schema_url(url, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def pg_urls():
    """A function giving a fresh schema's URL per call (all dropped afterwards)."""
    url = postgres_url()
    if not url:
        pytest.skip("FSL_TEST_POSTGRES_URL is not set")
    made: list[str] = []
    try:
        admin = sa.create_engine(_driver(url), connect_args={"connect_timeout": 5})
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - set but unreachable: a failure, not a skip
        pytest.fail(f"FSL_TEST_POSTGRES_URL={url} is set but unusable: {type(exc).__name__}: {exc}")

    def fresh() -> str:
        schema = f"fsl_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        made.append(schema)
        return schema_url(url, schema)

    try:
        yield fresh
    finally:
        with admin.begin() as conn:
            for schema in made:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
