"""Shared fixtures for the engine and CLI tests (no frappe needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import EXAMPLES


@pytest.fixture(scope="session")
def example_rules_path() -> Path:
	return EXAMPLES / "rules.json"


@pytest.fixture(scope="session")
def example_csv_path() -> Path:
	return EXAMPLES / "customers.csv"
