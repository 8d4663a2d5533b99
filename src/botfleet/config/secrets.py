"""Where `${secret:NAME}` comes from: the secret store named by the fleet's `secrets:` block.

Credentials never live in YAML; a file says `${secret:binance-key}` and the store answers at
the moment of use. Four providers, one small interface (`get`, and `set`/`remove`/`names`
where the provider can be managed from botfleet):

- `dir` (the default): one file per secret in `BOTFLEET_SECRETS_DIR` (default `/run/secrets`,
  where Docker and Kubernetes mount secrets);
- `env`: the environment variable of that name (`binance-key` also finds `BINANCE_KEY`);
- `file`: an encrypted file (Fernet: AES-128-CBC with an HMAC-SHA256, from `cryptography`)
  whose key is in an environment variable (`key_env`, default `BOTFLEET_SECRETS_KEY`), so the
  file can sit next to the fleet and even be committed, and the key is all that must be
  provisioned; managed with `botfleet secrets set/list/rm` without the value ever echoed;
- `prefect`: a Prefect Secret block of that name (`Secret.load(name).get()`), for fleets run
  by Prefect workers. This is the one import of Prefect outside `orchestration/`: it is
  lazy, and only a fleet that chooses the provider pays for it.

Every value handed out is registered with `obs.masking`, so it is masked in every log line,
message and report from then on.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botfleet.obs.masking import register_secret

PROVIDERS = ("dir", "env", "file", "prefect")
DEFAULT_KEY_ENV = "BOTFLEET_SECRETS_KEY"
DEFAULT_FILE = "secrets.enc"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class SecretMissing(LookupError):
    """A secret could not be found or read; the message names it and the store, never a value."""


class SecretStoreError(SecretMissing, ValueError):
    """A store is misconfigured or its file is unreadable (wrong key, damaged file): the
    secret cannot be had either, so whoever handles `SecretMissing` handles this too."""


class SecretStore(Protocol):
    provider: str

    def get(self, name: str) -> str: ...

    def describe(self) -> str: ...


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise SecretStoreError(f"secret name {name!r}: letters, digits, '_', '.', '-', "
                               "not starting with a digit")
    return name


class DirStore:
    """One file per secret in a folder (Docker/Kubernetes secrets)."""

    provider = "dir"

    def __init__(self, folder: Path | None = None):
        self.folder = folder

    def _folder(self) -> Path:
        return self.folder or Path(os.environ.get("BOTFLEET_SECRETS_DIR", "/run/secrets"))

    def get(self, name: str) -> str:
        path = self._folder() / check_name(name)
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError:
            raise SecretMissing(f"secret '{name}' not found: no readable file {path} "
                                "(set BOTFLEET_SECRETS_DIR to the secrets directory)") from None

    def describe(self) -> str:
        return f"the secrets directory {self._folder()}"


def env_names(name: str) -> list[str]:
    """`binance-key` -> [binance-key, BINANCE_KEY]: the name, then its shell spelling."""
    shell = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    return [name] if shell == name else [name, shell]


class EnvStore:
    """The environment variable of the secret's name."""

    provider = "env"

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = env

    def get(self, name: str) -> str:
        env = os.environ if self.env is None else self.env
        for candidate in env_names(check_name(name)):
            if candidate in env:
                return env[candidate]
        raise SecretMissing(f"secret '{name}' not found: set the environment variable "
                            f"{' or '.join(env_names(name))} (secrets provider: env)")

    def describe(self) -> str:
        return "the environment"


class EncryptedFileStore:
    """Secrets in one Fernet-encrypted JSON file; the key comes from an environment variable.

    Writes go to a temporary file in the same folder, then `os.replace`, so a reader never
    sees half a file and a crash never loses the old one; the file is created mode 0600."""

    provider = "file"

    def __init__(self, path: Path, key_env: str = DEFAULT_KEY_ENV,
                 env: Mapping[str, str] | None = None):
        self.path = Path(path)
        self.key_env = key_env
        self.env = env
        self._lock = threading.Lock()
        self._cache: tuple[float, int, dict[str, str]] | None = None

    def _fernet(self):
        from cryptography.fernet import Fernet

        env = os.environ if self.env is None else self.env
        key = env.get(self.key_env)
        if not key:
            raise SecretStoreError(
                f"the secrets file {self.path} needs its key in the environment variable "
                f"{self.key_env}, which is not set (make one with 'botfleet secrets keygen')")
        try:
            return Fernet(key.strip().encode())
        except (ValueError, TypeError):
            raise SecretStoreError(f"{self.key_env} does not hold a valid key (32 url-safe "
                                   "base64-encoded bytes; make one with 'botfleet secrets "
                                   "keygen')") from None

    def load(self) -> dict[str, str]:
        """Every secret in the file (empty if the file does not exist yet)."""
        from cryptography.fernet import InvalidToken

        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        cached = self._cache
        if cached is not None and cached[:2] == (st.st_mtime, st.st_size):
            return dict(cached[2])
        fernet = self._fernet()
        try:
            data = json.loads(fernet.decrypt(self.path.read_bytes()))
        except InvalidToken:
            raise SecretStoreError(f"cannot decrypt {self.path}: the key in {self.key_env} is "
                                   "not the one it was written with, or the file is "
                                   "damaged") from None
        secrets = data.get("secrets") if isinstance(data, dict) else None
        if not isinstance(secrets, dict):
            raise SecretStoreError(f"{self.path}: not a botfleet secrets file")
        self._cache = (st.st_mtime, st.st_size, dict(secrets))
        return dict(secrets)

    def _save(self, secrets: dict[str, str]) -> None:
        token = self._fernet().encrypt(json.dumps({"version": 1, "secrets": secrets},
                                                  sort_keys=True).encode())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(token)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache = None

    def get(self, name: str) -> str:
        secrets = self.load()
        if check_name(name) not in secrets:
            raise SecretMissing(f"secret '{name}' not found in {self.path} (add it with "
                                f"'botfleet secrets set {name}')")
        return secrets[name]

    def set(self, name: str, value: str) -> bool:
        """Store `value` under `name`; True if it replaced an existing secret."""
        check_name(name)
        if not value:
            raise SecretStoreError(f"secret '{name}': empty value refused")
        with self._lock:
            secrets = self.load()
            existed = name in secrets
            secrets[name] = value
            self._save(secrets)
        register_secret(value)
        return existed

    def remove(self, name: str) -> None:
        with self._lock:
            secrets = self.load()
            if name not in secrets:
                raise SecretMissing(f"secret '{name}' not found in {self.path}")
            del secrets[name]
            self._save(secrets)

    def names(self) -> list[str]:
        return sorted(self.load())

    def describe(self) -> str:
        return f"the encrypted file {self.path}"


class PrefectStore:
    """Prefect Secret blocks: `Secret.load(name).get()` against the configured Prefect API."""

    provider = "prefect"

    def get(self, name: str) -> str:
        from prefect.blocks.system import Secret as PrefectSecret

        try:
            block = PrefectSecret.load(check_name(name), _sync=True)
        except ValueError as exc:
            raise SecretMissing(f"secret '{name}' not found: no Prefect Secret block of that "
                                f"name ({str(exc).splitlines()[0]})") from None
        value = block.get()
        return value if isinstance(value, str) else json.dumps(value)

    def set(self, name: str, value: str) -> bool:
        from prefect.blocks.system import Secret as PrefectSecret

        existed = name in self.names()
        PrefectSecret(value=value).save(check_name(name), overwrite=True, _sync=True)
        register_secret(value)
        return existed

    def remove(self, name: str) -> None:
        from prefect.blocks.system import Secret as PrefectSecret

        try:
            PrefectSecret.delete(check_name(name), _sync=True)
        except ValueError:
            raise SecretMissing(f"secret '{name}': no Prefect Secret block of that name") from None

    def names(self) -> list[str]:
        from prefect.client.orchestration import get_client

        names: list[str] = []
        with get_client(sync_client=True) as client:
            while True:  # pages of 200 (the server's limit)
                page = client.read_block_documents_by_type(
                    "secret", offset=len(names), limit=200, include_secrets=False)
                names += [d.name or "" for d in page]
                if len(page) < 200:
                    break
        return sorted(n for n in names if n and not n.startswith("anonymous-"))

    def describe(self) -> str:
        return "Prefect Secret blocks"


@dataclass(frozen=True)
class SecretsSettings:
    """The fleet's `secrets:` block."""

    provider: str = "dir"
    file: Path | None = None
    key_env: str = DEFAULT_KEY_ENV
    dir: Path | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None, base: Path | None = None
                  ) -> SecretsSettings:
        d = dict(data or {})
        provider = d.get("provider", "dir")
        if provider not in PROVIDERS:
            raise SecretStoreError(f"secrets.provider {provider!r}: one of {', '.join(PROVIDERS)}")

        def anchored(text: str | None) -> Path | None:
            if not text:
                return None
            path = Path(text)
            return path if path.is_absolute() or base is None else base / path

        file = anchored(d.get("file"))
        if provider == "file" and file is None:
            file = (base or Path.cwd()) / DEFAULT_FILE
        return cls(provider, file, d.get("key_env", DEFAULT_KEY_ENV), anchored(d.get("dir")))

    def store(self) -> SecretStore:
        if self.provider == "env":
            return EnvStore()
        if self.provider == "file":
            return EncryptedFileStore(self.file or Path(DEFAULT_FILE), self.key_env)
        if self.provider == "prefect":
            return PrefectStore()
        return DirStore(self.dir)


_active: SecretStore | None = None


def use_store(store: SecretStore | SecretsSettings | None) -> SecretStore:
    """Make `store` the process's store for `${secret:..}` (None: back to the default)."""
    global _active
    _active = store.store() if isinstance(store, SecretsSettings) else store
    return active_store()


def active_store() -> SecretStore:
    return _active if _active is not None else DirStore()


def get_secret(name: str, store: SecretStore | None = None) -> str:
    """The value of secret `name` from `store` (default: the active one), registered for
    masking before it is returned."""
    value = (store or active_store()).get(name)
    register_secret(value)
    return value


def generate_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
