"""Where the shared real market data lives; tests skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from botfleet.data.candles import from_frame

SHARED = Path(os.environ.get("BOTFLEET_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"shared market data not found: {path} (set BOTFLEET_SHARED_DATA)")
    return path


def load(name: str):
    return from_frame(pd.read_csv(shared_file(name)))
