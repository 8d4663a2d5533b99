"""The lab's progress bar follows an optimisation trial by trial: trials finished in this
thread, in forked workers (Optuna's and the grid's) and in the grid's vectorised pass are
counted (`sim.trialcount`) and reported while the run goes, not only at its steps."""

from __future__ import annotations

import re
import time

from ui_fixtures import ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

from botfleet.jobs.research import run_job
from botfleet.sim.optimize import fork_map
from botfleet.sim.trialcount import counted, counting, tick


def test_trials_are_counted_across_forked_workers_while_they_run():
    heard: list[int] = []
    def work(chunk):
        for _ in chunk:
            time.sleep(0.02)  # a trial that takes a moment, so the poller sees each step
            tick()
        return chunk

    with counting(heard.append, poll_s=0.01):
        assert sorted(fork_map(work, list(range(40)), 2)) == list(range(40))
        tick(2)
        counted(lambda: None)()
    assert heard[-1] == 43 and heard == sorted(heard)
    assert len(heard) >= 10, heard  # heard while the workers ran, not once at the end
    tick()  # outside a counting block: nobody listens, nothing breaks
    assert heard[-1] == 43


def test_an_optimisation_reports_each_trial_to_the_progress_bar(ui_fleet):  # noqa: F811
    text = ui_fleet.parent.joinpath("bots.d", "btc-trend.yaml").read_text()
    ui_fleet.parent.joinpath("bots.d", "btc-trend.yaml").write_text(
        text.replace("trials: 100", "trials: 30\n  jobs: 2"))  # Optuna in two forked workers
    seen: list[tuple[int, str]] = []
    row = run_job(str(ui_fleet), "btc-trend", "optimize",
                  progress=lambda pct, what: seen.append((pct, what)))
    assert row["evaluated"] >= 30
    counts = [int(m.group(1)) for _, what in seen
              if (m := re.search(r"optimize btc-trend: (\d+)/30 trial\(s\) done", what))]
    assert counts and counts == sorted(counts) and counts[-1] >= 30
    assert len(set(counts)) >= 2, counts  # seen during the search, not only at its end
    pcts = [p for p, _ in seen]
    assert pcts == sorted(pcts) and pcts[-1] == 95
