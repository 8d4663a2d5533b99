"""The schemas themselves, the generated reference, the ccxt catalogue and the example files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from botfleet.config import catalog
from botfleet.config.docgen import render
from botfleet.config.schemas import KINDS, raw_schemas, schema_dir

from conftest import ROOT


def test_schemas_are_valid_draft_2020_12():
    for name, schema in raw_schemas().items():
        Draft202012Validator.check_schema(json.loads(json.dumps(schema, default=float)))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
    assert schema_dir() == ROOT / "schemas"
    assert {f"{k}.schema.json" for k in KINDS} <= set(raw_schemas())


def test_configuration_reference_is_up_to_date():
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), "run 'make docs' (botfleet schema docs -o docs/configuration.md)"


def test_every_shipped_yaml_file_names_its_schema():
    files = [ROOT / "fleet.yaml", *ROOT.glob("*.d/*.yaml")]
    assert len(files) >= 9
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        kind = "fleet" if path.name == "fleet.yaml" else None
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.exists(), path
        if kind:
            assert target.name == "fleet.schema.json"


@pytest.mark.skipif(catalog.installed_ccxt_version() is None, reason="ccxt is not installed")
def test_ccxt_catalogue_snapshot_matches_the_installed_ccxt():
    snapshot = json.loads(catalog.SNAPSHOT.read_text(encoding="utf-8"))
    assert snapshot == catalog.build_catalog(), (
        "ccxt changed: run 'python -m botfleet.config.catalog' to refresh the snapshot")
    assert "binance" in catalog.exchange_ids() and "4h" in catalog.timeframes("binance")


def test_docker_compose_services_are_pinned_and_keep_secrets_out():
    """No Docker engine here: check what can be read (images pinned, no literal passwords)."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "clickhouse", "prefect-server", "prefect-worker", "runner", "ui",
            "prometheus", "grafana"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        if "image" in svc:
            assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name
        for key, value in (svc.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services and "healthcheck" in services[dep], (name, dep)


def test_fleet_schema_alone_explains_list_items_as_editors_see_them():
    """Editors validate inline list items through the fleet schema's anyOf; so do we."""
    from botfleet.config.schemas import problems_for
    from botfleet.config.yamlfile import parse_document

    text = ("kind: fleet\nversion: 1\nname: t\n"
            "bots:\n  - {name: x, pairs: [BTC/USDT], strategy: s, mode: livee}\n  - 42\n")
    doc = parse_document(text, Path("fleet.yaml"), "fleet.yaml", [])
    found = sorted(str(p) for p in problems_for(doc, "fleet"))
    assert found == [
        ("fleet.yaml:5:53: bots[0].mode: 'livee' is not allowed here (did you mean 'live'? "
        "allowed: backtest, paper, live)"),
        "fleet.yaml:6:5: bots[1]: expected text or a mapping, found 42"]


def test_the_example_fleet_shows_every_key_of_every_schema():
    """Each key appears at least once in the example files, set or in a comment."""
    import re

    from botfleet.config.docgen import _rows

    text = "\n".join(p.read_text(encoding="utf-8")
                     for p in [ROOT / "fleet.yaml", *ROOT.glob("*.d/*.yaml")])
    missing = set()
    for kind in KINDS:
        for path, *_ in _rows(raw_schemas()[f"{kind}.schema.json"], f"{kind}.schema.json", "",
                              set()):
            leaf = path.split(".")[-1].replace("[]", "")
            if leaf != "<name>" and not re.search(rf"(^|[\s{{,#]){re.escape(leaf)}:", text, re.MULTILINE):
                missing.add(f"{kind}: {path}")
    assert not missing, sorted(missing)


def test_compiled_validators_use_additional_properties_only():
    """Error wording relies on `additionalProperties`; flattening must leave no
    `unevaluatedProperties` behind (it would also double-report failing keys)."""
    from botfleet.config.schemas import validator

    for kind in KINDS:
        for inline in ((False,) if kind == "fleet" else (False, True)):
            text = json.dumps(validator(kind, inline).schema, default=str)
            assert "unevaluatedProperties" not in text and "$ref" not in text, (kind, inline)
