"""Locate the shared benchmark data (``<repo>/../shared/data``, or ``$SCRCL_SHARED_DATA``).

Missing data skips a test locally, but fails it when ``CI=true``: on CI the data is part of
the contract, and a silent skip would hide that the test never ran.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "SCRCL_SHARED_DATA"


def shared_data_dir() -> Path:
    """The shared data folder (it may not exist)."""
    return Path(os.environ.get(SHARED_DATA_ENV) or REPO.parent / "shared" / "data")


def shared_file(relative: str) -> Path:
    """Path of ``relative`` inside the shared data; skip (fail on CI) when it is missing."""
    path = shared_data_dir() / relative
    if not path.exists():
        message = (f"shared data file {path} is missing (set ${SHARED_DATA_ENV} to the folder "
                   f"holding the shared data)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
