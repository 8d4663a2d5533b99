"""Where the flows' code and the Prefect server are: the `flows/` folder (a checkout, the
image's /app, or `$BOTFLEET_FLOWS`) and `PREFECT_API_URL`, each with an error that says how to
provide it when it is missing.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL

from botfleet.deployments import FLOWS


class OrchestrationError(RuntimeError):
    """A Prefect server is missing, unreachable or refused a change; the message says which."""


def flows_dir() -> Path:
    """`$BOTFLEET_FLOWS`, else `flows/` beside the package's source tree, else in the cwd."""
    env = os.environ.get("BOTFLEET_FLOWS")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parents[3] / "flows",
                                          Path.cwd() / "flows"]
    for path in candidates:
        if (path / "__init__.py").is_file():
            return path.resolve()
    raise OrchestrationError(
        "cannot find the flows folder (looked in " + ", ".join(map(str, candidates))
        + "); run from a botfleet checkout or set BOTFLEET_FLOWS to its flows/ folder")


def load_flows() -> dict[str, Any]:
    """The six flows by kind, imported as the package `flows` (importable by name, so a flow
    run in a spawned process finds the same code)."""
    folder = flows_dir()
    if str(folder.parent) not in sys.path:
        sys.path.insert(0, str(folder.parent))
    found = {}
    for kind in FLOWS:
        module = importlib.import_module(f"flows.{kind}")
        found[kind] = module.FLOW
    return found


def api_url() -> str:
    url = PREFECT_API_URL.value()
    if not url:
        raise OrchestrationError(
            "no Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api); "
            "'botfleet up' runs one on this machine, docker-compose.yml one for a team")
    return url


def check_reachable(client: Any) -> None:
    problem = client.api_healthcheck()
    if problem is not None:
        raise OrchestrationError(f"cannot reach the Prefect server at {api_url()}: {problem}")
