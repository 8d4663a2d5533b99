"""docs/indicators.md from the registry: what a strategy can call, with parameters, ranges,
outputs and default warm-up. Generated so the reference cannot drift from the code
(`make docs`; a test fails when the file is stale).

    python -m botfleet.indicators.docs > docs/indicators.md
"""

from __future__ import annotations

from botfleet.indicators import Registry


def _range(p: dict) -> str:
    if p["choices"]:
        return " / ".join(p["choices"])
    lo = "" if p["min"] is None else f"{p['min']:g}"
    hi = "" if p["max"] is None else f"{p['max']:g}"
    return f"{lo} – {hi}" if lo or hi else "any"


def render(registry: Registry | None = None) -> str:
    from botfleet.indicators import custom, talib_funcs

    if registry is None:  # the built-ins only: plugins document themselves
        registry = Registry([talib_funcs.load, custom.load])
    items = registry.describe()
    intro = ("Every indicator a strategy can call by name, generated from the registry "
             "(`make docs`). Call them as `name(series…, parameters…, keyword=value)`; with "
             "no series an indicator reads the columns in *inputs*. Pick an output with "
             "`.name` when there are several (TA-Lib's own output names work too). *Warm-up* "
             "is for the default parameters: the bars before values are trustworthy, "
             "including a convergence allowance for recursive ones. See "
             "[strategies.md](strategies.md).")
    count = (f"{len(items)} indicators: {sum(i['source'] == 'talib' for i in items)} from "
             f"TA-Lib, {sum(i['source'] == 'botfleet' for i in items)} of botfleet's own.")
    lines = ["# Indicators", "", intro, "", count, ""]
    header = "| name | description | inputs | parameters (default, range) | outputs | warm-up |"
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["group"] or "Other", []).append(item)
    for group in sorted(groups):
        lines += [f"## {group}", "", header, "| --- | --- | --- | --- | --- | --- |"]
        for i in groups[group]:
            params = "; ".join(f"`{p['name']}` {p['default']} ({_range(p)})" for p in i["params"])
            lines.append(f"| `{i['name']}` | {i['description']}"
                         f"{' (botfleet)' if i['source'] == 'botfleet' else ''} | "
                         f"{', '.join(i['inputs'])} | {params or '–'} | "
                         f"{', '.join(i['outputs'])} | {i['warmup']} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
