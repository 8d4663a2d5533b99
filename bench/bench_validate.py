"""Validate a generated fleet of 1,000 bot files; target: under 1 s on the 2-core CI machine.

Peer, measured in the same run: the plain approach most projects take (PyYAML's C safe_load
plus jsonschema's validator per file) -- no positions, no cross-file checks. Our loader does
strictly more work per file, so the ratio shows what positions and cross-checks cost.

    .venv/bin/python bench/bench_validate.py [--bots 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from botfleet.config import load_fleet
from botfleet.config.schemas import raw_schemas, registry

PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT"]
STRATEGIES = ["sma_cross", "rsi_reversion", "donchian_breakout"]


def generate(root: Path, n_bots: int) -> Path:
    repo = Path(__file__).resolve().parents[1]
    for folder in ("strategies.d", "exchanges.d", "notifiers.d", "risk.d"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for f in (repo / folder).glob("*.yaml"):
            (root / folder / f.name).write_text(f.read_text())
    fleet = (repo / "fleet.yaml").read_text().replace("total: 10000", f"total: {n_bots * 1000}")
    (root / "fleet.yaml").write_text(fleet)
    bots = root / "bots.d"
    bots.mkdir()
    for i in range(n_bots):
        strategy = STRATEGIES[i % 3]
        params = {"sma_cross": f"{{fast: {5 + i % 40}, slow: {60 + i % 100}}}",
                  "rsi_reversion": f"{{oversold: {15 + i % 20}}}",
                  "donchian_breakout": f"{{entry_window: {10 + i % 80}}}"}[strategy]
        (bots / f"bot-{i:04d}.yaml").write_text(
            "# yaml-language-server: $schema=../schemas/bot.schema.json\n"
            f"kind: bot\nversion: 1\nname: bot-{i:04d}\n"
            f"description: generated bot {i}\n"
            f"pairs: [{PAIRS[i % len(PAIRS)]}, {PAIRS[(i + 3) % len(PAIRS)]}]\n"
            f"timeframe: {['1h', '4h', '15m'][i % 3]}\n"
            f"strategy: {strategy}\nparameters: {params}\n"
            f"capital: {{allocation: {500 + i % 300}}}\n"
            "risk:\n  max_position: 400\n  max_daily_loss: 50\n  cooldown_after_stop: 2h\n"
            f"tags: [gen, group-{i % 10}]\n")
    return root / "fleet.yaml"


def ours(fleet_path: Path) -> float:
    t0 = time.perf_counter()
    load = load_fleet(fleet_path, display_root=fleet_path.parent)
    elapsed = time.perf_counter() - t0
    assert load.ok, load.errors[:5]
    return elapsed


def peer(fleet_path: Path) -> float:
    """safe_load + jsonschema per file, validators built once (as a careful peer would)."""
    validators = {k: Draft202012Validator(raw_schemas()[f"{k}.schema.json"], registry=registry())
                  for k in ("fleet", "bot", "strategy", "exchange", "notifier", "risk")}
    files = [fleet_path, *sorted(fleet_path.parent.glob("*.d/*.yaml"))]
    t0 = time.perf_counter()
    for f in files:
        data = yaml.load(f.read_text(), Loader=yaml.CSafeLoader)
        errors = list(validators[data["kind"]].iter_errors(
            json.loads(json.dumps(data, default=str))))
        assert not errors or data["kind"] == "fleet", errors[:1]
    return time.perf_counter() - t0


def cli(fleet_path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "botfleet"), "validate", str(fleet_path)],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bots", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fleet_path = generate(Path(tmp), args.bots)
        ours(fleet_path)  # warm caches: schemas compiled, ccxt catalogue read
        peer(fleet_path)
        ours_t, peer_t = [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine state
            ours_t.append(ours(fleet_path))
            peer_t.append(peer(fleet_path))
        cli_t = [cli(fleet_path) for _ in range(3)]
    m_ours, m_peer = statistics.median(ours_t), statistics.median(peer_t)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {__import__('os').cpu_count()} cores")
    print(f"bots: {args.bots}, runs: {args.runs}")
    print(f"botfleet load_fleet (in process): median {m_ours:.3f} s  "
          f"(min {min(ours_t):.3f}, max {max(ours_t):.3f})")
    print(f"peer safe_load+jsonschema:        median {m_peer:.3f} s")
    print(f"ratio botfleet/peer: {m_ours / m_peer:.2f}")
    print(f"botfleet validate (CLI, cold process, 3 runs): median {statistics.median(cli_t):.3f} s")
    print(f"target < 1 s in process: {'met' if m_ours < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
