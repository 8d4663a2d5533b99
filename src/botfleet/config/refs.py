"""Secret and environment references: `${env:NAME}` and `${secret:NAME}`.

A configuration lives in git, so it must never hold a key, a password or a token. Files hold
references; they are resolved only at the moment of use and the resolved value is never part of
a repr, a log line or an error message. Literal secrets written into YAML are refused.

`${secret:NAME}` asks the secret store the fleet's `secrets:` block names (`config.secrets`:
a directory, the environment, an encrypted file or Prefect Secret blocks). Every resolved value
is registered with `obs.masking` at that moment, so wherever it travels afterwards (an error
message, a URL in a log line) it is printed as `***`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from botfleet.config.problems import Problem
from botfleet.config.secrets import DirStore, SecretMissing, SecretStore, active_store
from botfleet.config.yamlfile import Document
from botfleet.obs.masking import register_secret

REF = re.compile(r"\$\{([^}]*)\}")
_VALID = re.compile(r"^(env|secret):([A-Za-z_][A-Za-z0-9_.-]*)$")
_SECRET_KEY = re.compile(r"(?i)(api_?key|secret|password|passphrase|passwd|token|private_?key)")
_TOKEN = re.compile(r"^[A-Za-z0-9]{32,}$")
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:([^/@\s]+)@", re.IGNORECASE)
HOW = ("write '${env:NAME}' and set NAME in the environment, or '${secret:NAME}' for the "
       "secret store (secrets: in the fleet file; default: a file in the secrets directory)")
__all__ = ["HOW", "REF", "Secret", "SecretMissing", "reference_problems", "resolve",
           "secrets_dir_default"]


class Secret:
    """A referenced secret. Its text shows the reference; `reveal()` gives the value."""

    __slots__ = ("ref",)

    def __init__(self, ref: str):
        self.ref = ref

    def reveal(self, env: Mapping[str, str] | None = None, secrets_dir: Path | None = None) -> str:
        return resolve(self.ref, env=env, secrets_dir=secrets_dir)

    def __repr__(self) -> str:
        return f"Secret({self.ref!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)


def secrets_dir_default() -> Path:
    return Path(os.environ.get("BOTFLEET_SECRETS_DIR", "/run/secrets"))


def resolve(text: str, env: Mapping[str, str] | None = None,
            secrets_dir: Path | None = None, store: SecretStore | None = None) -> str:
    """Replace every reference in `text` by its value; raise SecretMissing if one has none.
    `${secret:..}` asks `store`, else a directory `secrets_dir`, else the active store."""
    env = os.environ if env is None else env
    if store is None:
        store = DirStore(secrets_dir) if secrets_dir is not None else active_store()

    def one(match: re.Match) -> str:
        m = _VALID.match(match.group(1))
        if not m:
            raise SecretMissing(f"invalid reference '{match.group(0)}'")
        source, name = m.groups()
        if source == "env":
            if name not in env:
                raise SecretMissing(f"environment variable {name} is not set "
                                    f"(needed by '{match.group(0)}')")
            value = env[name]
        else:
            value = store.get(name)
        register_secret(value)
        return value

    return REF.sub(one, text)


def _walk(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, path + (i,))


def reference_problems(doc: Document, data: Any = None, prefix: tuple = ()) -> list[Problem]:
    """Malformed references and literal secrets anywhere in a document."""
    out: list[Problem] = []
    for path, value in _walk(doc.data if data is None else data, prefix):
        if not isinstance(value, str):
            continue
        for match in REF.finditer(value):
            if not _VALID.match(match.group(1)):
                out.append(doc.problem(path, f"invalid reference '{match.group(0)}'",
                                       "write ${env:NAME} or ${secret:NAME}"))
        if "${" in value and value.count("${") != len(REF.findall(value)):
            out.append(doc.problem(path, "unclosed reference: '${' without '}'"))
        key = path[-1] if path and isinstance(path[-1], str) else ""
        if "credentials" in path:  # the schema demands references there and says so
            continue
        if _SECRET_KEY.search(key) and value and not REF.fullmatch(value.strip()):
            out.append(doc.problem(path, f"literal secret in YAML under '{key}'", HOW))
        elif _TOKEN.match(value) and _looks_random(value):
            out.append(doc.problem(path, "this looks like a literal API key or token", HOW))
        else:
            m = _URL_PASSWORD.match(value)
            if m and not REF.fullmatch(m.group(1)):
                out.append(doc.problem(path, "literal password in a URL",
                                       "write the password as ${env:NAME} inside the URL"))
    return out


def _looks_random(text: str) -> bool:
    return (any(c.isupper() for c in text) and any(c.islower() for c in text)
            and sum(c.isdigit() for c in text) >= 4)
