"""Shared test helpers: where the fixtures are, and small builders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A copy of the spec's conformance cases the tests use: a clone of the repository has only itself.
CONFORMANCE = ROOT / "tests" / "fixtures" / "conformance"
SEQUENCES = ROOT / "sequences"


@pytest.fixture
def conformance() -> Path:
    return CONFORMANCE


def postgres_url() -> str | None:
    return os.environ.get("FSL_TEST_POSTGRES_URL")
