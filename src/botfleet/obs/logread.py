"""Reading back the JSON-lines log file (`logging.file` of the fleet) for one bot or cycle.

The control panel shows a bot's recent log lines beside its cycles; every line the runtime
writes carries `bot` and `correlation_id` (`obs.logs.ContextFilter`), so filtering is a match
on those fields. Only the file's tail is read (a log of gigabytes costs no more than a small
one), the rotated files (`.1`, `.2`, …) only when the current one holds too few lines. Lines
that are not JSON (a console-format file, a torn last line) are skipped, not fatal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

TAIL_BYTES = 4 * 1024 * 1024


def _tail_lines(path: Path, max_bytes: int) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(size - max_bytes, 0))
            raw = f.read()
    except OSError:
        return []
    lines = raw.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > max_bytes else lines  # the first may be cut in half


def read_log(path: str | Path, *, bot: str | None = None,
             correlation_ids: Iterable[str] | None = None, limit: int = 200,
             max_bytes: int = TAIL_BYTES, rotated: int = 2) -> list[dict]:
    """The newest `limit` records of `path` (and up to `rotated` rotated files) that belong to
    `bot` or to one of `correlation_ids` (no filter: every record), oldest first."""
    path = Path(path)
    ids = set(correlation_ids or ())
    out: list[dict] = []
    for n in range(rotated + 1):
        file = path if n == 0 else path.with_name(f"{path.name}.{n}")
        if not file.exists():
            break
        found = []
        for line in _tail_lines(file, max_bytes):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if (bot or ids) and record.get("bot") != bot and \
                    record.get("correlation_id") not in ids:
                continue
            found.append(record)
        out = found + out
        if len(out) >= limit:
            break
    return out[-limit:]
