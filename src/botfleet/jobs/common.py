"""What every job starts with: the fleet file loaded and checked, or a clear error."""

from __future__ import annotations

from pathlib import Path

from botfleet.config.loader import FleetLoad


class JobError(RuntimeError):
    """A job cannot do its work; the message says why and what to fix."""


def load_checked(path: str | Path) -> FleetLoad:
    """The fleet at `path` (a file or a folder with fleet.yaml), strategies compiled as its
    bots use them; `JobError` listing every problem (file:line:col) when it is invalid."""
    from botfleet.strategy.fleet import load_checked as load_and_compile

    path = Path(path)
    if path.is_dir():
        path = path / "fleet.yaml"
    if not path.is_file():
        raise JobError(f"{path}: no such fleet file")
    load = load_and_compile(path)
    if not load.ok:
        raise JobError(f"{path}: the fleet has {len(load.errors)} error(s):\n"
                       + "\n".join(str(p) for p in load.errors))
    return load


def pick_bots(fleet, names: list[str] | None, modes: tuple[str, ...] | None = None) -> list:
    """The named bots (all enabled ones when `names` is empty), optionally only those in
    `modes`; an unknown name is an error, with the bots there are."""
    if names:
        unknown = [n for n in names if n not in fleet.bots]
        if unknown:
            raise JobError(f"no bot named {', '.join(map(repr, unknown))} in {fleet.path}; "
                           f"bots: {', '.join(sorted(fleet.bots))}")
        bots = [fleet.bots[n] for n in names]
    else:
        bots = fleet.enabled_bots()
    return [b for b in bots if modes is None or b.mode in modes]
