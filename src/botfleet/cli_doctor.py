"""`botfleet doctor`: check a whole installation and say what to fix.

Prints one line per check, `OK`, `WARN` or `FAIL`, with what to do under each that is not OK;
exits 1 when anything failed (so a deploy script or CI can stop on it), 0 otherwise.
The checks themselves are in `botfleet.doctor`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

MARK = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}


def doctor(fleet: Path | None = typer.Option(None, "--fleet", help="Fleet file or folder "
                                             "(default: ./fleet.yaml)."),
           venue: str | None = typer.Option(None, "--venue", help="Also check the simulator "
                                            "the paper bots will trade on at this URL."),
           timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for all "
                                         "checks (a service that does not answer fails)."),
           as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Check the installation: config, state database, candles, Redis, exchanges,
    credentials, Prefect, Chromium, disk; each OK, WARN or FAIL with what to fix."""
    from botfleet.cli import _fleet_path
    from botfleet.doctor import run_doctor
    from botfleet.obs.health import FAIL, Check, HealthReport
    from botfleet.obs.masking import mask  # a driver's message may quote a URL with a password

    checks = [Check(c.name, c.status, mask(c.detail), mask(c.fix))
              for c in run_doctor(_fleet_path(fleet), venue=venue, timeout_s=timeout)]
    report = HealthReport(tuple(checks))
    if as_json:
        typer.echo(json.dumps({"status": report.status,
                               "checks": [{"name": c.name, **c.as_dict()} for c in checks]},
                              indent=1))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            typer.echo(f"{MARK[c.status]}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != "ok":
                typer.echo(f"      {'':<{width}}  fix: {c.fix}")
        bad = [c for c in checks if c.status == FAIL]
        warn = [c for c in checks if c.status == "warn"]
        typer.echo(f"\n{len(checks)} checks: {len(bad)} failed, {len(warn)} warning(s)"
                   + ("" if bad else "; nothing to fix" if not warn else ""))
    raise typer.Exit(1 if report.status == FAIL else 0)
