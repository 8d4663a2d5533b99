"""Reading a bot's lines back from the JSON-lines log file (`obs.logread`), as the bot page does."""

from __future__ import annotations

import json

from botfleet.obs.logread import read_log


def _line(bot, cid, message):
    return json.dumps({"ts": "2026-01-01T00:00:00Z", "level": "info", "logger": "x",
                       "message": message, "bot": bot, "correlation_id": cid})


def test_lines_of_the_bot_or_its_cycles_newest_last_across_a_rotation(tmp_path):
    log = tmp_path / "botfleet.log"
    (tmp_path / "botfleet.log.1").write_text("\n".join([
        _line("a", "c1", "old a"), _line("b", "c2", "old b")]) + "\n")
    log.write_text("\n".join([
        _line("a", "c3", "new a"), "not json at all", _line(None, "c3", "ccxt during a"),
        _line("b", "c4", "new b")]) + '\n{"torn": ')
    got = read_log(log, bot="a", correlation_ids=["c3"])
    assert [r["message"] for r in got] == ["old a", "new a", "ccxt during a"]
    assert [r["message"] for r in read_log(log, bot="a", limit=1)] == ["new a"]
    assert len(read_log(log)) == 5  # no filter: every JSON record
    assert read_log(tmp_path / "missing.log", bot="a") == []


def test_only_the_tail_of_a_large_file_is_read(tmp_path):
    log = tmp_path / "botfleet.log"
    log.write_text("\n".join(_line("a", f"c{i}", f"m{i}") for i in range(2000)) + "\n")
    got = read_log(log, bot="a", limit=5000, max_bytes=10_000, rotated=0)
    assert 0 < len(got) < 2000 and got[-1]["message"] == "m1999"
    assert all(r["message"].startswith("m") for r in got)  # the cut first line is dropped
