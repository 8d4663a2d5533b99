"""Files botfleet writes for the user: the schemas (for editors) and a starter fleet.

The starter fleet is the repository's own example fleet, so the files `botfleet init` writes
are exactly the ones the test suite validates; the wheel carries a copy as `botfleet/example`.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from botfleet.config.schemas import schema_dir

EXAMPLE_ITEMS = ("fleet.yaml", "exchanges.d", "bots.d", "strategies.d", "notifiers.d", "risk.d",
                 "models.d")


def example_dir() -> Path:
    packaged = resources.files("botfleet") / "example"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3]


def export_schemas(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(schema_dir().glob("*.schema.json")):
        dst = target / src.name
        shutil.copyfile(src, dst)
        written.append(dst)
    return written


class TargetNotEmpty(FileExistsError):
    pass


def init_fleet(target: Path, *, force: bool = False) -> list[Path]:
    """Write the example fleet and its schemas into `target`; refuse to overwrite files."""
    source = example_dir()
    clashes = [target / item for item in EXAMPLE_ITEMS + ("schemas",) if (target / item).exists()]
    if clashes and not force:
        raise TargetNotEmpty(", ".join(str(c) for c in clashes))
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for item in EXAMPLE_ITEMS:
        src = source / item
        if src.is_dir():
            for file in sorted(src.glob("*.yaml")):
                dst = target / item / file.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, dst)
                written.append(dst)
        else:
            shutil.copyfile(src, target / item)
            written.append(target / item)
    written += export_schemas(target / "schemas")
    return written
