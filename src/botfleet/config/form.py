"""The config editor's form view, generated from the JSON Schemas.

A form shows one widget per setting that a widget can hold: a scalar, a choice, a list of
names, at the top level and inside the blocks people change most (a bot's `capital`,
`sizing`, `risk`, `schedule`, `notify`; a fleet's `defaults`, `capital`, `schedules`...).
The fields come from the schema, so a key added to a schema shows up here without UI code.
Maps with free keys (`parameters`) and lists of objects stay in the text editor.
The form's values are applied into the text by `config.edit.set_values` (comments and key
order kept); `parse_value` turns what was typed into the YAML value the schema expects, or
says what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 3  # fleet.defaults.capital.allocation is three levels down
_SKIP = {"kind", "version"}


@dataclass(frozen=True)
class FormField:
    key: str  # dotted path, e.g. "capital.allocation"
    kind: str  # "text", "choice", "bool", "int", "number", "amount", "list"
    description: str
    choices: tuple = ()

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    @property
    def group(self) -> str:
        """The top-level block the field is in ("" for a top-level field)."""
        return self.key.split(".")[0] if "." in self.key else ""


def _flat(spec: dict) -> dict:
    out = dict(spec)
    for sub in spec.get("allOf", []):
        out.update({k: v for k, v in sub.items() if k != "description"})
    return out


def _kind(flat: dict) -> tuple[str, tuple] | None:
    t = flat.get("type")
    if "enum" in flat:
        return "choice", tuple(flat["enum"])
    if isinstance(t, list) and set(t) == {"number", "string"}:
        return "amount", ()
    if t in ("string", "boolean", "integer", "number"):
        return {"string": "text", "boolean": "bool", "integer": "int", "number": "number"}[t], ()
    if t == "array":
        items = _flat(flat.get("items", {}))
        if items.get("type") == "string" or "enum" in items:
            return "list", tuple(items.get("enum", ()))
    return None


def _walk(props: dict, prefix: str, depth: int, out: list[FormField]) -> None:
    for key, spec in props.items():
        if not prefix and key in _SKIP:
            continue
        flat = _flat(spec)
        desc = str(spec.get("description", flat.get("description", "")))
        if isinstance(flat.get("properties"), dict):
            if depth < MAX_DEPTH:
                _walk(flat["properties"], f"{prefix}{key}.", depth + 1, out)
            continue
        got = _kind(flat)
        if got:
            out.append(FormField(prefix + key, got[0], desc, got[1]))


def form_fields(kind: str) -> list[FormField]:
    """The settings of a `kind` file a form can edit as one widget each, in schema order:
    top-level ones first, then those inside each block, as dotted keys."""
    from botfleet.config.schemas import validator

    schema = validator(kind).schema if kind == "fleet" else validator(kind, True).schema
    out: list[FormField] = []
    _walk(schema.get("properties", {}), "", 1, out)
    return out


def value_at(data: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` in parsed YAML, None when any step is missing."""
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def parse_value(f: FormField, text: str | None) -> Any:
    """What typed `text` means for field `f` (None: leave the key out). Raises ValueError
    naming the field when the text cannot be that kind of value."""
    if f.kind in ("bool", "choice") and not isinstance(text, str):
        return text
    raw = ("" if text is None else str(text)).strip()
    if not raw:
        return None
    if f.kind == "list":
        items = [x.strip() for x in raw.split(",") if x.strip()]
        bad = [x for x in items if f.choices and x not in map(str, f.choices)]
        if bad:
            raise ValueError(f"{f.key}: {', '.join(bad)} not one of "
                             f"{', '.join(map(str, f.choices))}")
        return items
    if f.kind == "int":
        if not re.fullmatch(r"[+-]?[0-9]+", raw):
            raise ValueError(f"{f.key}: '{raw}' is not a whole number")
        return int(raw)
    if f.kind in ("number", "amount") and _NUMBER.match(raw):
        number = float(raw)
        return int(number) if number.is_integer() and "." not in raw and "e" not in \
            raw.lower() else number
    if f.kind == "number":
        raise ValueError(f"{f.key}: '{raw}' is not a number")
    if f.kind == "choice":
        opts = {str(c): c for c in f.choices}
        if raw not in opts:
            raise ValueError(f"{f.key}: '{raw}' is not one of {', '.join(opts)}")
        return opts[raw]
    return raw  # text, and an amount written as a percentage ("5%"): the schema checks it
