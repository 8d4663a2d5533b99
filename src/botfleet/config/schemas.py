"""The JSON Schemas of every file kind, and the translation of their errors into problems.

The schemas in the repository's `schemas/` folder are the contract (editors read them through
the `# yaml-language-server: $schema=` line); the wheel carries a copy as `botfleet/schemas`.
jsonschema's own messages speak of instances and regexes; users should read what was expected,
where, and what they probably meant, so each error kind gets its own wording here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from botfleet.config.problems import Problem, did_you_mean, known_list
from botfleet.config.yamlfile import Document

KINDS = ("fleet", "exchange", "bot", "strategy", "risk", "notifier", "model")


def schema_dir() -> Path:
    """`botfleet/schemas` inside an installed wheel, else the source tree's `schemas/`."""
    packaged = resources.files("botfleet") / "schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "schemas"


@cache
def raw_schemas() -> dict[str, dict]:
    """Every schema file by file name, numbers parsed as Decimal like our YAML values."""
    out = {}
    for path in sorted(schema_dir().glob("*.schema.json")):
        out[path.name] = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    return out


@cache
def registry() -> Registry:
    return Registry().with_resources(
        (name, Resource(contents=schema, specification=DRAFT202012))
        for name, schema in raw_schemas().items())


def _inline_refs(schema: Any, base: str, depth: int = 0) -> Any:
    """The schema with every `$ref` replaced by what it points to.

    Resolving references costs more than the rest of validation; our schemas have no recursive
    references, so they can be expanded once. A `$ref` with sibling keywords becomes an `allOf`
    so that `unevaluatedProperties` still sees the properties the reference declares.
    """
    if depth > 32:
        raise ValueError("schema references nest too deeply (a recursive $ref?)")
    if isinstance(schema, list):
        return [_inline_refs(s, base, depth) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _inline_refs(v, base, depth) for k, v in schema.items()
           if k not in ("$ref", "$defs")}
    if "$ref" in schema:
        ref = schema["$ref"]
        target_base = ref.split("#")[0] or base
        target = _inline_refs(resolve_ref(ref, base), target_base, depth + 1)
        if not out:
            return target
        out["allOf"] = [target, *out.get("allOf", [])]
    return out


_PLAIN_OBJECT_KEYS = {"type", "properties", "required", "description", "title"}


def _flatten(schema: Any) -> Any:
    """`allOf: [plain object]` + `unevaluatedProperties: false` -> `additionalProperties: false`.

    Same meaning for such plain subschemas, and jsonschema checks it in about half the time:
    `unevaluatedProperties` re-walks every subschema to learn which keys were evaluated.
    """
    if isinstance(schema, list):
        return [_flatten(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _flatten(v) for k, v in schema.items()}
    subs = out.get("allOf", [])
    if out.get("unevaluatedProperties") is False and subs and all(
            isinstance(sub, dict) and set(sub) <= _PLAIN_OBJECT_KEYS for sub in subs):
        props, required = dict(out.get("properties", {})), list(out.get("required", []))
        for sub in subs:
            for key, value in sub.get("properties", {}).items():
                props.setdefault(key, value)
            required += [r for r in sub.get("required", []) if r not in required]
        del out["allOf"], out["unevaluatedProperties"]
        out.update(properties=props, additionalProperties=False)
        if required:
            out["required"] = required
    return out


@cache
def validator(kind: str, inline: bool = False) -> Draft202012Validator:
    """The file-level schema of `kind`, or for `inline` its body (no `kind:`/`version:`)."""
    base = f"{kind}.schema.json"
    schema = {"$ref": f"{base}#/$defs/{kind}"} if inline else raw_schemas()[base]
    return Draft202012Validator(_flatten(_inline_refs(schema, base)), registry=registry())


def resolve_ref(ref: str, base: str) -> dict:
    """The subschema a `$ref` points to, resolved the way the validator resolves it."""
    resolver = registry().resolver(base_uri=base)
    return resolver.lookup(ref).contents


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (empty)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if isinstance(value, (int, Decimal)):
        return f"{value}"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "text", "number": "a number",
               "integer": "a whole number", "boolean": "true or false", "null": "empty"}


def _expected(schema: dict) -> str | None:
    return schema.get("x-expected") if isinstance(schema, dict) else None


def _leaf_errors(error: ValidationError) -> Iterator[ValidationError]:
    """For anyOf/oneOf, descend into the branch that matches the value's type."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        instance = error.instance
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        # prefer a branch that did not fail on `type`: it is the one the user meant
        for subs in by_branch.values():
            if not any(s.validator == "type" and not s.relative_path for s in subs):
                for sub in subs:
                    yield from _leaf_errors(sub)
                return
        if _expected(error.schema):
            error.message = f"expected {_expected(error.schema)}, found {_describe(instance)}"
            error.validator = "custom"
            yield error
            return
        allowed = []
        for branch in error.validator_value:
            t = branch.get("type") if isinstance(branch, dict) else None
            allowed.append(_TYPE_WORDS.get(t, "a mapping") if isinstance(t, str) else "a mapping")
        error.message = (f"expected {' or '.join(dict.fromkeys(allowed))}, "
                         f"found {_describe(instance)}")
        error.validator = "custom"
    yield error


def problems_for(doc: Document, kind: str, data: Any = None, prefix: tuple = ()) -> list[Problem]:
    """Validate `data` (default: the whole document) against the schema of `kind`.

    A non-empty `prefix` means an object written inline in the fleet file, which carries no
    `kind:` or `version:` of its own.
    """
    instance = doc.data if data is None else data
    out = []
    for error in validator(kind, bool(prefix)).iter_errors(instance):
        for leaf in _leaf_errors(error):
            path = prefix + tuple(leaf.absolute_path)
            if any(path[: len(b)] == b for b in doc.broken):
                continue  # an `!include` there failed and was reported; do not pile on
            out.extend(_translate(doc, leaf, kind, prefix))
    return out


def _secret_problem(doc: Document, path: tuple, schema: dict):
    """A literal where a reference belongs: name the key, never echo the value."""
    from botfleet.config.refs import HOW

    key = next((p for p in reversed(path) if isinstance(p, str)), "value")
    what = "Apprise URL (URLs hold tokens)" if key == "url" else "secret"
    return doc.problem(path, f"literal {what} in YAML under '{key}'", HOW)


def _is_key_error(error: ValidationError) -> bool:
    """Errors raised under `propertyNames` concern a key, though jsonschema locates the map."""
    return any(part == "propertyNames" for part in error.absolute_schema_path)


def _translate(doc: Document, error: ValidationError, kind: str, prefix: tuple) -> list[Problem]:
    path = prefix + tuple(error.absolute_path)
    v = error.validator
    if v != "propertyNames" and _is_key_error(error):
        return [doc.problem(path + (error.instance,), f"{_describe(error.instance)} is not a "
                            "valid name here", f"expected {_expected(error.schema) or 'a name'}",
                            key=True)]
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    if schema.get("x-secret") and v in ("pattern", "type"):
        return [_secret_problem(doc, path, schema)]
    if v == "additionalProperties":
        known = set(schema.get("properties", {}))
        extras = [k for k in value if k not in known] if isinstance(value, dict) else []
        return [doc.problem(path + (k,), f"unknown key '{k}'",
                            did_you_mean(k, known) or f"known keys: {known_list(known)}", key=True)
                for k in extras] or [doc.problem(path, error.message)]
    if v == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        return [doc.problem(path, f"missing required key '{k}'") for k in missing]
    if v == "enum":
        options = [str(o) for o in error.validator_value]
        hint = did_you_mean(value, options) if isinstance(value, str) else None
        return [doc.problem(path, f"{_describe(value)} is not allowed here",
                            (hint + " " if hint else "") + f"allowed: {', '.join(options)}")]
    if v == "const":
        want = error.validator_value
        if path[-1:] == ("kind",):
            return [doc.problem(path, f"kind is {_describe(value)} but this file must be "
                                f"'{want}'", f"write 'kind: {want}'")]
        if path[-1:] == ("version",):
            if isinstance(value, str) and value.strip() == str(want):
                return [doc.problem(path, f"version must be the number {want}, not the text "
                                    f"{value!r}", f"write 'version: {want}' without quotes")]
            return [doc.problem(path, f"unsupported version {_describe(value)}",
                                f"this botfleet reads version {want}")]
        return [doc.problem(path, f"must be {want!r}")]
    if v == "type":
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else wanted
        words = _expected(schema) or " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        hint = None
        if isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n") \
                and "boolean" in wanted:
            hint = "write true or false"
        return [doc.problem(path, f"expected {words}, found {_describe(value)}", hint)]
    if v == "pattern":
        return [doc.problem(path, f"{_describe(value)} is not valid",
                            f"expected {_expected(schema)}" if _expected(schema) else None)]
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "greater than",
                 "maximum": "at most", "exclusiveMaximum": "less than"}[v]
        return [doc.problem(path, f"{value} is out of range: must be {words} {error.validator_value}")]
    if v in ("minItems", "maxItems", "minLength", "maxLength", "minProperties"):
        if v == "minItems" and error.validator_value == 1 or v == "minProperties":
            return [doc.problem(path, "must not be empty")]
        return [doc.problem(path, error.message)]
    if v == "uniqueItems":
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            key = json.dumps(item, sort_keys=True, default=str)
            if key in seen:
                return [doc.problem(path + (i,), f"{_describe(item)} is listed twice",
                                    f"first at position {seen[key] + 1}")]
            seen[key] = i
        return [doc.problem(path, error.message)]
    return [doc.problem(path, error.message)]

