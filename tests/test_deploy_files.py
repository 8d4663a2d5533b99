"""The deployment files, checked without a Docker engine: docker-compose.yml parsed (and given to
`docker compose config` where the plugin is installed), every service health-checked, every
mounted file present, every `botfleet` command and option it runs present in the CLI, no secret
written inline; the Dockerfile multi-stage, non-root, health-checked, with no registry host; its
HEALTHCHECK command run against a real HTTP server answering 200 and then 503.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|HASH", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _list(value) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else value.split()


def test_every_service_has_a_healthcheck_or_says_why_not(compose):
    assert len(compose["services"]) >= 11
    for name, svc in compose["services"].items():
        check = svc.get("healthcheck")
        assert check, f"service {name} has no healthcheck"
        if check.get("disable"):
            assert svc.get("x-no-healthcheck"), f"{name}: healthcheck disabled without a reason"
            assert svc.get("restart") == "no", f"{name}: only one-shot jobs go unchecked"
        else:
            assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_the_stack_has_the_services_the_issue_asks_for(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "clickhouse", "prefect-server", "prefect-worker",
                 "botfleet-apply", "runner", "ui", "prometheus", "grafana"):
        assert name in services, name
    assert services["prefect-worker"]["deploy"]["replicas"] == 2
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"][
        "PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert set(compose["volumes"]) >= {"postgres-data", "redis-data", "clickhouse-data",
                                       "prometheus-data", "grafana-data", "botfleet-data"}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all hosts"


def test_every_mounted_path_exists_in_the_repository(compose):
    named = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if source in named:
                continue
            assert source.startswith("./"), f"{name}: {vol} is neither a named volume nor ./"
            assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    dashboards = list((ROOT / "deploy/grafana/dashboards").glob("*.json"))
    assert dashboards, "deploy/grafana/dashboards holds no dashboard"


def test_prometheus_scrapes_the_runner_where_compose_serves_it(compose):
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"] if not t.startswith("localhost")]
    assert targets
    for target in targets:
        host, port = target.split(":")
        assert host in compose["services"], f"Prometheus scrapes {target}: no such service"
        assert port in " ".join(_list(compose["services"][host]["command"]))


def test_no_secret_is_written_inline(compose):
    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str | int) and SECRET_WORDS.search(str(k)):
                    assert re.fullmatch(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", str(v)), \
                        f"{where}.{k} holds a value, not a ${{VAR}} reference"
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(compose["services"], "services")
    accounts = yaml.safe_load(compose["configs"]["venue-accounts"]["content"])["accounts"]
    assert accounts[0]["api_key"].startswith("${") and accounts[0]["secret"].startswith("${")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    example = (ROOT / "deploy/env.example").read_text()
    for var in required:
        assert re.search(rf"^{var}=", example, re.MULTILINE), f"deploy/env.example lacks {var}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored


def _botfleet_commands(compose) -> list[tuple[str, list[str]]]:
    out = []
    for name, svc in compose["services"].items():
        if svc.get("build") is None or svc.get("entrypoint"):
            continue
        out.append((name, _list(svc["command"])))
    return out


def test_every_botfleet_command_in_compose_exists_with_its_options(compose):
    import typer.main
    from typer.testing import CliRunner

    from botfleet.cli import app

    group = typer.main.get_command(app)
    commands = _botfleet_commands(compose)
    assert {n for n, _ in commands} >= {"botfleet-apply", "venue", "runner", "ui"}
    for name, argv in commands:
        path, cmd = [], group
        for word in argv:
            sub = getattr(cmd, "commands", {}).get(word)
            if sub is None:
                break
            path.append(word)
            cmd = sub
        assert path, f"{name}: {argv[0]!r} is not a botfleet command"
        got = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert got.exit_code == 0, f"{name}: botfleet {' '.join(path)} --help: {got.output}"
        for option in (w for w in argv if w.startswith("--")):
            assert option in got.output, f"{name}: botfleet {' '.join(path)} has no {option}"


def test_the_workers_run_prefect_with_its_healthcheck(compose):
    worker = compose["services"]["prefect-worker"]
    assert worker["entrypoint"][-1] == "prefect"
    argv = _list(worker["command"])
    prefect = Path(sys.executable).with_name("prefect")
    got = subprocess.run([str(prefect), *argv[:2], "--help"], check=False, capture_output=True,
                         text=True,
                         timeout=120, env={"PATH": str(prefect.parent), "HOME": "/tmp",
                                           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                                           "DO_NOT_TRACK": "1"})
    assert got.returncode == 0, got.stderr
    for option in (w for w in argv if w.startswith("--")):
        assert option in got.stdout, option
    assert "8080/health" in " ".join(worker["healthcheck"]["test"])


def _dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_the_dockerfile_is_multi_stage_non_root_and_health_checked():
    text = _dockerfile()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE)
    assert len(stages) >= 2 and stages[0][1] == "builder"
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"useradd .*botfleet", text)
    assert re.search(r"^HEALTHCHECK ", text, re.MULTILINE)
    assert "requirements/base.lock" in text
    for compiler in ("gcc", "build-essential", "g++"):
        assert compiler not in text
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.MULTILINE))
    for image, _ in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        first = image.split("/")[0]
        assert "/" not in image or not ("." in first or ":" in first), \
            f"FROM {image} names a registry host"
    assert not re.search(r"\b[a-z0-9-]+\.(io|com|org|net)/", text), "a registry host name"


def test_ta_lib_comes_as_a_wheel_so_the_image_needs_no_compiler():
    import talib

    lock = (ROOT / "requirements/base.lock").read_text()
    assert re.search(r"^ta-lib==", lock, re.MULTILINE)
    libs = Path(talib.__file__).parent.parent / "ta_lib.libs"
    assert any(libs.glob("libta-lib*.so*")), "the TA-Lib wheel no longer bundles its C library"


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(type(self).status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_the_image_healthcheck_passes_on_200_and_fails_on_503():
    line = next(x for x in _dockerfile().splitlines() if x.strip().startswith("CMD [\"python\""))
    argv = yaml.safe_load(line.strip()[4:])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    try:
        def run() -> int:
            return subprocess.run([sys.executable, *argv[1:]], check=False, env={"BOTFLEET_HEALTH_URL": url},
                                  capture_output=True, timeout=30).returncode
        assert run() == 0
        _Health.status = 503
        assert run() != 0
    finally:
        server.shutdown()
        server.server_close()
    closed = subprocess.run([sys.executable, *argv[1:]], check=False, capture_output=True,
                            timeout=30,
                            env={"BOTFLEET_HEALTH_URL": url})
    assert closed.returncode != 0  # nothing listens any more


def _compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    got = subprocess.run([docker, "compose", "version"], check=False, capture_output=True,
                         text=True, timeout=30)
    return None if got.returncode == 0 else f"docker compose is not available: {got.stderr}"


def test_docker_compose_config_accepts_the_file(tmp_path):
    reason = _compose_plugin()
    if reason:
        pytest.skip(reason)
    env = tmp_path / ".env"
    example = (ROOT / "deploy/env.example").read_text()
    env.write_text(re.sub(r"^(\w+)=$", r"\1=x", example, flags=re.MULTILINE))
    got = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env),
                          "config", "--quiet"], check=False, capture_output=True, text=True,
                         timeout=60,
                         cwd=ROOT)
    assert got.returncode == 0, got.stderr


def test_the_deploy_guide_covers_every_service_and_names_real_commands(compose):
    import typer.main
    from typer.testing import CliRunner

    from botfleet.cli import app

    guide = (ROOT / "docs/deploy.md").read_text(encoding="utf-8")
    for name in compose["services"]:
        assert f"`{name}`" in guide, f"docs/deploy.md does not mention `{name}`"
    built = "|".join(re.escape(n) for n, s in compose["services"].items()
                     if s.get("build") is not None and not s.get("entrypoint"))
    uses = re.findall(r"`botfleet ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", guide)
    uses += re.findall(rf"docker compose run --rm (?:{built}) ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?",
                       guide)
    assert len(uses) >= 6
    group = typer.main.get_command(app)
    for first, second in uses:
        cmd = group.commands.get(first)
        assert cmd is not None, f"docs/deploy.md: botfleet {first} is not a command"
        path = [first, second] if second in getattr(cmd, "commands", {}) else [first]
        got = CliRunner().invoke(app, [*path, "--help"])
        assert got.exit_code == 0, f"docs/deploy.md: botfleet {' '.join(path)}: {got.output}"
