"""Shared test helpers. The repository root is the example fleet; tests write temp fleets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def write(tmp_path: Path):
    """write("bots.d/a.yaml", text) -> path; dedents text, creates folders."""

    def _write(rel: str, text: str | bytes) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


MINIMAL_FLEET = """
kind: fleet
version: 1
name: t
capital: {currency: USDT, total: 1000}
defaults: {exchange: binance, timeframe: 1h}
exchanges:
  - {name: binance, ccxt_id: binance}
strategies:
  - name: s
    parameters: {n: {default: 10, range: [2, 50]}}
    entry: close > open
    exit: close < open
bots: [bots.d/*.yaml]
"""


@pytest.fixture
def fleet(write, tmp_path: Path):
    """A minimal valid fleet in tmp_path with one bot file; returns a loader callable."""
    write("fleet.yaml", MINIMAL_FLEET)
    write("bots.d/a.yaml", """
        kind: bot
        version: 1
        name: a
        pairs: [BTC/USDT]
        strategy: s
        """)

    def load():
        from botfleet.config import load_fleet

        return load_fleet(tmp_path / "fleet.yaml", display_root=tmp_path)

    return load
