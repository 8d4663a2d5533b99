"""The secret store: the four providers, the encrypted file (and what goes wrong with it), the
fleet's `secrets:` block behind `${secret:..}`, and `botfleet secrets` never showing a value."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
from test_runtime_helpers import bot_yaml, load, write_fleet
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.config.refs import Secret, resolve
from botfleet.config.secrets import (
    DirStore,
    EncryptedFileStore,
    EnvStore,
    PrefectStore,
    SecretMissing,
    SecretsSettings,
    SecretStoreError,
    active_store,
    generate_key,
    get_secret,
    use_store,
)
from botfleet.obs.masking import mask

from prefect_fixtures import prefect_server  # noqa: F401 - the session's Prefect server


@pytest.fixture(autouse=True)
def _default_store():
    yield
    use_store(None)


@pytest.fixture
def key_env(monkeypatch):
    name = f"T_SECRETS_KEY_{uuid.uuid4().hex[:6].upper()}"
    monkeypatch.setenv(name, generate_key())
    return name


def test_dir_store_is_the_default_and_reads_the_secrets_directory(tmp_path, monkeypatch):
    (tmp_path / "db-password").write_text("DirValue123\n")
    monkeypatch.setenv("BOTFLEET_SECRETS_DIR", str(tmp_path))
    assert isinstance(active_store(), DirStore)
    assert resolve("postgresql://u:${secret:db-password}@h/x") == "postgresql://u:DirValue123@h/x"
    assert mask("it was DirValue123") == "it was ***"  # registered when resolved
    with pytest.raises(SecretMissing, match=f"secret 'nope' not found: no readable file "
                       f"{tmp_path}/nope"):
        resolve("${secret:nope}")


def test_env_store_finds_the_name_or_its_shell_spelling(monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", "EnvValue456")
    store = EnvStore()
    assert store.get("binance-api.key") == "EnvValue456"
    with pytest.raises(SecretMissing, match="set the environment variable kraken-key or "
                       "KRAKEN_KEY"):
        store.get("kraken-key")
    with pytest.raises(SecretStoreError, match="secret name '9lives'"):
        store.get("9lives")


def test_the_encrypted_file_round_trip(tmp_path, key_env):
    path = tmp_path / "sub" / "secrets.enc"
    store = EncryptedFileStore(path, key_env)
    assert store.names() == []
    assert store.set("binance-key", "FileValue789abc") is False
    assert store.set("smtp-password", "p@ss w:rd/é") is False
    assert store.set("binance-key", "FileValue789xyz") is True  # replaced
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert b"FileValue789" not in raw and b"binance-key" not in raw  # names are secret too
    again = EncryptedFileStore(path, key_env)  # a fresh reader: nothing cached
    assert again.names() == ["binance-key", "smtp-password"]
    assert again.get("smtp-password") == "p@ss w:rd/é"
    assert get_secret("binance-key", again) == "FileValue789xyz"
    assert mask("key FileValue789xyz") == "key ***"
    again.remove("smtp-password")
    assert store.names() == ["binance-key"]
    assert [p.name for p in path.parent.iterdir()] == ["secrets.enc"]  # no temporary left
    with pytest.raises(SecretMissing, match="secret 'gone' not found in .*secrets.enc .*"
                       "botfleet secrets set gone"):
        store.get("gone")
    with pytest.raises(SecretStoreError, match="empty value refused"):
        store.set("x", "")


def test_the_encrypted_file_without_its_key_or_with_another(tmp_path, key_env, monkeypatch):
    path = tmp_path / "secrets.enc"
    EncryptedFileStore(path, key_env).set("k", "Value12345")
    with pytest.raises(SecretStoreError, match="needs its key in the environment variable "
                       "NO_SUCH_KEY_VAR, which is not set"):
        EncryptedFileStore(path, "NO_SUCH_KEY_VAR").get("k")
    monkeypatch.setenv("OTHER_KEY", generate_key())
    with pytest.raises(SecretStoreError, match="cannot decrypt .*secrets.enc: the key in "
                       "OTHER_KEY is not the one it was written with"):
        EncryptedFileStore(path, "OTHER_KEY").get("k")
    monkeypatch.setenv("BAD_KEY", "not-a-key")
    with pytest.raises(SecretStoreError, match="BAD_KEY does not hold a valid key"):
        EncryptedFileStore(path, "BAD_KEY").get("k")
    path.write_bytes(path.read_bytes()[:-5] + b"XXXXX")  # damaged
    with pytest.raises(SecretStoreError, match="or the file is damaged"):
        EncryptedFileStore(path, key_env).get("k")


FLEET_SECRETS = """
secrets: {{provider: file, file: vault/secrets.enc, key_env: {key_env}}}
"""
EXCHANGE_REF = 'credentials: {api_key: "${env:RT_KEY}", secret: "${env:RT_SECRET}"}'


def _fleet_with_file_store(tmp_path, key_env: str):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    text = path.read_text().replace(EXCHANGE_REF, 'credentials: {api_key: '
                                    '"${secret:binance-key}", secret: "${secret:binance-secret}"}')
    path.write_text(text + FLEET_SECRETS.format(key_env=key_env))
    return path


def test_the_fleet_block_puts_secret_references_on_the_file(tmp_path, key_env):
    from botfleet.runtime.clients import resolve_credentials

    path = _fleet_with_file_store(tmp_path, key_env)
    store = EncryptedFileStore(tmp_path / "vault" / "secrets.enc", key_env)
    store.set("binance-key", "FleetKey0001")
    store.set("binance-secret", "FleetSecret0002")
    fleet = load(path).fleet
    assert fleet.secrets == SecretsSettings("file", tmp_path / "vault" / "secrets.enc", key_env)
    assert isinstance(active_store(), EncryptedFileStore)
    exchange = fleet.exchanges["binance"]
    assert str(exchange.credentials["secret"]) == "Secret('${secret:binance-secret}')"
    assert resolve_credentials(exchange) == {"apiKey": "FleetKey0001",
                                             "secret": "FleetSecret0002"}
    store.remove("binance-secret")
    from botfleet.runtime.clients import CredentialsError

    with pytest.raises(CredentialsError, match="credentials.secret: secret 'binance-secret' "
                       "not found in"):
        resolve_credentials(exchange)


def test_the_command_line_manages_the_file_without_showing_values(tmp_path, key_env):
    path = _fleet_with_file_store(tmp_path, key_env)
    cli = CliRunner()
    key = cli.invoke(app, ["secrets", "keygen"])
    assert key.exit_code == 0 and len(key.output.strip()) == 44
    out = cli.invoke(app, ["secrets", "set", "binance-key", "--fleet", str(path)],
                     input="CliValue0003\n")
    assert out.exit_code == 0, out.output
    assert "secret binance-key added in the encrypted file" in out.output
    out = cli.invoke(app, ["secrets", "set", "binance-key", "--fleet", str(path)],
                     input="CliValue0004\n")
    assert "replaced" in out.output and "CliValue" not in out.output
    cli.invoke(app, ["secrets", "set", "other", "--fleet", str(path)], input="CliValue0005")
    listed = cli.invoke(app, ["secrets", "list", "--fleet", str(path)])
    assert listed.exit_code == 0 and listed.output.split() == ["binance-key", "other"]
    store = EncryptedFileStore(tmp_path / "vault" / "secrets.enc", key_env)
    assert store.get("binance-key") == "CliValue0004" and store.get("other") == "CliValue0005"
    out = cli.invoke(app, ["secrets", "rm", "other", "--fleet", str(path)])
    assert out.exit_code == 0 and store.names() == ["binance-key"]
    out = cli.invoke(app, ["secrets", "rm", "other", "--fleet", str(path)])
    assert out.exit_code == 2 and "secret 'other' not found" in out.output
    out = cli.invoke(app, ["secrets", "set", "bad name", "--fleet", str(path)], input="x")
    assert out.exit_code == 2 and "secret name 'bad name'" in out.output
    out = cli.invoke(app, ["secrets", "list", "--fleet", str(path), "--key-env", "NO_KEY_X"])
    assert out.exit_code == 2 and "NO_KEY_X, which is not set" in out.output
    # --file: a file of its own, no fleet needed
    out = cli.invoke(app, ["secrets", "set", "solo", "--file", str(tmp_path / "solo.enc"),
                           "--key-env", key_env], input="SoloValue6")
    assert out.exit_code == 0 and "SoloValue6" not in out.output


def test_the_command_line_refuses_stores_it_does_not_manage(tmp_path):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    path.write_text(path.read_text() + "secrets: {provider: env}\n")
    out = CliRunner().invoke(app, ["secrets", "list", "--fleet", str(path)])
    assert out.exit_code == 2
    assert "secrets.provider is 'env', which botfleet does not manage" in out.output


def test_prefect_secret_blocks(prefect_server, tmp_path):  # noqa: F811 - the fixture
    store = PrefectStore()
    name = f"bf-test-{uuid.uuid4().hex[:8]}"
    assert store.set(name, "PrefectValue0007") is False
    assert name in store.names()
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    path.write_text(path.read_text() + "secrets: {provider: prefect}\n")
    fleet = load(path).fleet
    assert fleet.secrets.provider == "prefect"
    assert Secret("${secret:" + name + "}").reveal() == "PrefectValue0007"
    assert mask("PrefectValue0007") == "***"
    store.remove(name)
    with pytest.raises(SecretMissing, match=f"secret '{name}' not found: no Prefect Secret "
                       "block of that name"):
        store.get(name)
    assert os.environ.get("PREFECT_API_URL") or prefect_server.api_url
