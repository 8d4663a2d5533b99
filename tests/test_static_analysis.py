"""Static analysis is part of `make test`: ruff (style and bug patterns) and bandit (security
patterns, configured by bandit.yaml at the repository root) must find nothing. Each runs as the
command a developer would type, and a failure shows its findings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LINTED = ("src", "tests", "bench", "flows", "ui", "plugins")  # what `make lint` checks


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is a dev dependency: make lock)")
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def test_ruff_finds_nothing():
    done = _run([_tool("ruff"), "check", "--no-cache",
                 *[d for d in LINTED if (ROOT / d).exists()]])
    assert done.returncode == 0, f"ruff found problems:\n{done.stdout}{done.stderr}"


def test_bandit_finds_nothing():
    done = _run([_tool("bandit"), "-r", "src", "-c", "bandit.yaml", "-q", "-f", "txt"])
    assert done.returncode == 0, f"bandit found problems:\n{done.stdout}"


def test_bandit_would_catch_a_real_finding(tmp_path):
    """The configuration does not silence the checks it is there for."""
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\n\n\ndef run(cmd):\n"
                   "    return subprocess.call(cmd, shell=True)\n\n\n"
                   "PASSWORD = 'hunter2'\n")
    done = _run([_tool("bandit"), "-c", "bandit.yaml", "-q", "-f", "txt", str(bad)])
    assert done.returncode == 1
    assert "B602" in done.stdout and "B105" in done.stdout
