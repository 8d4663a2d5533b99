"""`botfleet model train|evaluate|list|promote|rollback`: the model registry from the shell.

Training reads the fleet's candle store (fill it with `botfleet data fetch`) and registers a
candidate; nothing is promoted without `promote`, which applies the YAML's promotion rule and
refuses with the numbers when it is not met (exit 1), unless `--force`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from botfleet.cli_research import fail

model_app = typer.Typer(help="Machine-learning models: train, evaluate, list, promote, roll "
                        "back (docs/ml.md).", no_args_is_help=True)
FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")


def _load(path: Path | None):
    from botfleet.cli import _fleet_path
    from botfleet.jobs.common import JobError, load_checked

    try:
        return load_checked(_fleet_path(path))
    except JobError as exc:
        fail(str(exc))


def _fleet(path: Path | None):
    return _load(path).fleet


def _day(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _num(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _metrics_lines(metrics: dict) -> list[str]:
    from botfleet.ml.evaluate import summary_rows

    lines = [(f"  out of sample: {metrics.get('samples')} samples, {_day(metrics.get('start_ms'))}"
             f" .. {_day(metrics.get('end_ms'))}, fee {metrics.get('fee')} per side")]
    lines.append(f"  {'':16} {'accuracy':>9} {'auc':>7} {'logloss':>8} {'ic':>7} "
                 f"{'hit':>7} {'strat.ret':>10} {'exposure':>9}")
    for who, m in summary_rows(metrics):
        lines.append(f"  {who:16} {_num(m.get('accuracy')):>9} {_num(m.get('auc')):>7} "
                     f"{_num(m.get('log_loss')):>8} {_num(m.get('ic')):>7} "
                     f"{_num(m.get('hit_rate')):>7} {_num(m.get('strategy_return')):>10} "
                     f"{_num(m.get('exposure')):>9}")
    if "prev_regime" in metrics:  # a regime model (ml.regime): its own yardsticks
        lines.append("  balanced accuracy: " + ", ".join(
            f"{who} {_num(m.get('balanced_accuracy'))}" for who, m in summary_rows(metrics)))
    inc = metrics.get("incumbent")
    if inc:
        lines.append(f"  vs promoted version {inc['version']} on {inc.get('samples')} shared "
                     f"unseen samples: " + (", ".join(
                         f"{k} {_num(inc['candidate'].get(k))} vs {_num(inc['model'].get(k))}"
                         for k in ("auc", "accuracy", "ic") if k in inc.get("model", {}))
                         or inc.get("note", "")))
    return lines


def _end_ms(end: str | None) -> int | None:
    if end is None:
        return None
    try:
        parsed = datetime.fromisoformat(end)
    except ValueError:
        fail(f"--end {end!r}: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)", 2)
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return int(parsed.timestamp() * 1000)


@model_app.command("train")
def train(name: str | None = typer.Argument(None, help="The model to train."),
          all_models: bool = typer.Option(False, "--all", help="Train every declared model."),
          end: str | None = typer.Option(None, "--end", help="Train as of this time, "
                                         "YYYY-MM-DD[THH:MM] UTC (default: the newest candle)."),
          threads: int = typer.Option(1, "--threads", help="Threads for the learner."),
          fleet: Path | None = FLEET_OPT) -> None:
    """Train a new candidate version and register it (promotion is a separate step)."""
    from botfleet.ml.fleet_ops import train_and_register
    from botfleet.ml.registry import RegistryError
    from botfleet.ml.train import ModelError
    from botfleet.risk.killswitch import default_actor

    if bool(name) == all_models:
        fail("name one model, or pass --all", 2)
    fl = _fleet(fleet)
    names = sorted(fl.models) if all_models else [name]
    if not names:
        fail(f"{fl.path} declares no models (add 'models: [models.d/*.yaml]')")
    end_ms = _end_ms(end)
    for n in names:
        try:
            t = train_and_register(fl, n, end_ms=end_ms, actor=default_actor(), threads=threads)
        except (ModelError, RegistryError) as exc:
            fail(str(exc))
        v, r = t.version, t.result
        typer.echo(f"{n} version {v.version}: candidate, trained on {r.n_train} samples "
                   f"({_day(r.train_range[0])} .. {_day(r.train_range[1])}) in {r.seconds:.1f}s")
        typer.echo(f"  data sha256 {v.data_sha256[:16]}…  files {v.artefact}")
        for line in _metrics_lines(v.metrics):
            typer.echo(line)


@model_app.command("evaluate")
def evaluate(name: str = typer.Argument(..., help="The model."),
             version: int | None = typer.Option(None, "--version", help="Default: the "
                                                "promoted version."),
             fleet: Path | None = FLEET_OPT) -> None:
    """Out-of-sample metrics of a version against the naive baselines."""
    from botfleet.ml.fleet_ops import evaluate_version
    from botfleet.ml.registry import RegistryError
    from botfleet.ml.train import ModelError

    fl = _fleet(fleet)
    try:
        out = evaluate_version(fl, name, version)
    except (ModelError, RegistryError) as exc:
        fail(str(exc))
    typer.echo(f"{name} version {out['version']}: {out['scope']}")
    for line in _metrics_lines(out["metrics"]):
        typer.echo(line)


@model_app.command("list")
def list_versions(name: str | None = typer.Argument(None, help="Only this model."),
                  fleet: Path | None = FLEET_OPT) -> None:
    """Every registered version: status, data range, holdout metric, and the bots it serves
    (those following the promoted version, and those pinning it with `model_versions`)."""
    from botfleet.ml.ab import missing_pins, model_users, served_by
    from botfleet.ml.fleet_ops import registry_of

    load = _load(fleet)
    fl = load.fleet
    rows = registry_of(fl).versions(name)
    users = [u for u in model_users(load) if name is None or u.model == name]
    for line in missing_pins(users, {(v.name, v.version) for v in rows}):
        typer.echo(f"warning: {line}")
    if not rows:
        typer.echo("no model versions yet (botfleet model train NAME)")
        return
    promoted = {v.name: v.version for v in rows if v.status == "promoted"}
    bots = served_by(users, promoted)
    typer.echo(f"{'model':20} {'ver':>4} {'status':11} {'algorithm':11} {'data from':16} "
               f"{'data to':16} {'metric':>14} {'created':16} bots")
    for v in rows:
        spec = fl.models.get(v.name)
        metric = spec.metric if spec else ("auc" if "auc" in (v.metrics.get("model") or {})
                                           else "ic")
        typer.echo(f"{v.name:20} {v.version:>4} {v.status:11} {v.algorithm:11} "
                   f"{_day(v.data_start_ms):16} {_day(v.data_end_ms):16} "
                   f"{metric + ' ' + _num(v.metric(metric)):>14} "
                   f"{v.created_at.astimezone(UTC):%Y-%m-%d %H:%M} "
                   f"{', '.join(bots.get((v.name, v.version), [])) or '-'}")


@model_app.command("promote")
def promote(name: str = typer.Argument(..., help="The model."),
            version: int = typer.Argument(..., help="The version to promote."),
            force: bool = typer.Option(False, "--force", help="Promote even if the rule is not "
                                       "met (the event log says so)."),
            fleet: Path | None = FLEET_OPT) -> None:
    """Make a version the one bots use, if it beats the promoted one by the YAML's rule."""
    from botfleet.ml.fleet_ops import model_of, registry_of
    from botfleet.ml.registry import PromotionRefused, RegistryError
    from botfleet.risk.killswitch import default_actor

    fl = _fleet(fleet)
    try:
        v, why = registry_of(fl).promote(model_of(fl, name), version, force=force,
                                         actor=default_actor())
    except PromotionRefused as exc:
        fail(f"promotion refused: {exc}")
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"{name} version {v.version} promoted: {why}")


@model_app.command("rollback")
def rollback(name: str = typer.Argument(..., help="The model."),
             fleet: Path | None = FLEET_OPT) -> None:
    """Go back to the version promoted before the current one."""
    from botfleet.ml.fleet_ops import registry_of
    from botfleet.ml.registry import RegistryError
    from botfleet.risk.killswitch import default_actor

    fl = _fleet(fleet)
    try:
        v, old = registry_of(fl).rollback(name, actor=default_actor())
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"{name}: version {old} rolled back; version {v.version} is promoted again")


@model_app.command("drift")
def drift(name: str = typer.Argument(..., help="The model."),
          retrain: bool = typer.Option(False, "--retrain", help="On drift, also announce it "
                                       "and train (and by the rule promote) a new version."),
          fleet: Path | None = FLEET_OPT) -> None:
    """Check the promoted version for drift: feature PSI and live hit rate against training.
    Exits 1 when a limit of the model's `drift:` YAML is over."""
    from botfleet.jobs.retrain import drift_report, on_drift
    from botfleet.ml.fleet_ops import model_of
    from botfleet.ml.registry import RegistryError
    from botfleet.ml.train import ModelError

    fl = _fleet(fleet)
    try:
        model_of(fl, name)
        if retrain:
            row = on_drift(fl, name, actor="cli")
            typer.echo(f"{name}: {row['outcome']}: {row.get('detail', '')}")
            raise typer.Exit(1 if row.get("announced") else 0)
        report = drift_report(fl, name)
    except (ModelError, RegistryError) as exc:
        fail(str(exc))
    if report is None:
        fail(f"{name}: no promoted version to check (botfleet model promote)")
    for line in report.lines():
        typer.echo(line)
    if report.drifted:
        raise typer.Exit(1)
