"""A human summary of a valid fleet: what would run, where, with how much money, and when."""

from __future__ import annotations

from botfleet.config.model import BotConfig, Fleet
from botfleet.config.schedule import Schedule
from botfleet.config.units import fmt_amount


def _schedule_text(s: Schedule, timeframe: str | None = None) -> str:
    if s.on_candle_close:
        return f"on each closed {timeframe} candle" if timeframe else "on candle close"
    return s.text


def _strategy_text(bot: BotConfig) -> str:
    params = ", ".join(f"{k}={v}" for k, v in bot.parameters.items())
    return f"{bot.strategy}({params})" if params else bot.strategy


def summary_lines(fleet: Fleet) -> list[str]:
    bots = list(fleet.bots.values())
    enabled = [b for b in bots if b.enabled]
    cur = fleet.capital_currency or ""
    lines = [(
        f"fleet '{fleet.name}' is valid: {len(bots)} bot(s) ({len(enabled)} enabled), "
        f"{len(fleet.strategies)} strateg{'y' if len(fleet.strategies) == 1 else 'ies'}, "
        f"{len(fleet.exchanges)} exchange(s), {len(fleet.notifiers)} notifier(s)")]
    if fleet.capital_total is not None:
        allocated = sum((b.allocation or 0) for b in enabled)
        lines.append(f"capital: {fmt_amount(fleet.capital_total)} {cur}, allocated to enabled bots: "
                     f"{fmt_amount(allocated)} {cur}")
    header = ("bot", "mode", "exchange", "pairs", "tf", "strategy", "allocation", "cycle")
    rows = [header]
    for b in bots:
        rows.append((b.name + ("" if b.enabled else " (disabled)"), b.mode, b.exchange,
                     ",".join(b.pairs), b.timeframe, _strategy_text(b),
                     f"{fmt_amount(b.allocation)} {cur}" if b.allocation is not None else "-",
                     _schedule_text(b.cycle, b.timeframe)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines.append("would run:")
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("schedules: " + "; ".join(f"{job} {_schedule_text(s)}"
                                          for job, s in fleet.schedules.items()))
    lines.append(f"storage: state {fleet.storage.state}, candles {fleet.storage.candles}, "
                 f"cache {fleet.storage.cache}")
    lines.append("the main job backtests these bots and replays them on the simulator; it sends "
                 "no order to an exchange (botfleet paper | live run them)")
    return lines
