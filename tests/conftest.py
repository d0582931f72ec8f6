"""Shared test helpers: where the shared spec material is, and small builders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"
SEQUENCES = ROOT / "sequences"


@pytest.fixture
def conformance() -> Path:
    if not CONFORMANCE.is_dir():  # CI always has it; a bare checkout may not
        pytest.fail(f"the conformance suite is missing at {CONFORMANCE}")
    return CONFORMANCE


def postgres_url() -> str | None:
    return os.environ.get("FSL_TEST_POSTGRES_URL")
