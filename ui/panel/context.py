"""Which fleet the panel shows, loaded once per change of its files.

`botfleet ui --fleet PATH` passes the fleet through `BOTFLEET_UI_FLEET`. The load is cached
on the files' modification times, so a page renders from memory until a YAML file changes
(the config editor's save shows up at once on every page).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

FLEET_ENV = "BOTFLEET_UI_FLEET"
STATE_ENV = "BOTFLEET_UI_STATE"  # where to act when the fleet's YAML is broken


def fleet_file() -> Path:
    path = Path(os.environ.get(FLEET_ENV) or "fleet.yaml")
    return path / "fleet.yaml" if path.is_dir() else path


def fleet_root() -> Path:
    return fleet_file().parent


SKIP_DIRS = {"data", "node_modules", "__pycache__", "venv"}


def yaml_files(root: Path) -> list[Path]:
    """Every YAML file under the fleet's folder; data and hidden folders are not walked (a
    data folder of candle files would cost a directory walk on every rerun)."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        out += [Path(folder) / f for f in files if f.endswith((".yaml", ".yml"))]
    return sorted(out)


def _signature(root: Path) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns) for p in yaml_files(root))


@st.cache_resource(max_entries=4, show_spinner=False)
def _load(path: str, signature: tuple):
    from botfleet.strategy.fleet import load_checked

    return load_checked(path, display_root=Path(path).parent)


@st.cache_resource(max_entries=4, show_spinner=False)
def state_engine(url: str):
    """One engine per state database for the panel's process: a fresh one per refresh would
    open a new connection each time (on PostgreSQL that costs more than the overview's
    queries). Not `storage.audit.shared_engine`: that one migrates first, which imports
    Alembic (0.4 s) on the first overview; the panel only reads. A fleet that never ran has
    no tables yet: the panel then creates the empty schema (what any runner does first), so
    every page shows the declared bots as never ran instead of failing."""
    import sqlalchemy as sa

    from botfleet.storage.db import state_engine as make
    from botfleet.storage.db import upgrade

    engine = make(url)
    if not sa.inspect(engine).has_table("bots"):
        upgrade(engine)
    return engine


@dataclass
class Context:
    path: Path
    load: object  # botfleet.config.loader.FleetLoad

    @property
    def fleet(self):
        return self.load.fleet

    @property
    def state_url(self) -> str | None:
        if self.fleet is not None:
            return self.fleet.storage.state
        return os.environ.get(STATE_ENV)

    @property
    def engine(self):
        """The state database's engine, kept for the process (see `state_engine`)."""
        return state_engine(self.state_url)

    @property
    def cache_url(self) -> str:
        return self.fleet.storage.cache if self.fleet is not None else "memory://"


def current() -> Context:
    path = fleet_file()
    if not path.is_file():
        st.error(f"No fleet file at {path}: start the panel with `botfleet ui --fleet PATH`.")
        st.stop()
    return Context(path, load_cached(path))


def load_cached(path: Path):
    """The fleet's load, from the cache while none of its YAML files changed."""
    return _load(str(path.resolve()), _signature(path.parent))


def need_fleet(ctx: Context) -> None:
    """Pages that read the state database need a valid fleet (it says where the state is)."""
    if ctx.fleet is None and not ctx.state_url:
        st.error(f"The fleet has {len(ctx.load.errors)} error(s), so where its state lives "
                 "is unknown. Fix them in the Config page.")
        for p in ctx.load.errors[:10]:
            st.code(str(p), language=None)
        st.stop()
