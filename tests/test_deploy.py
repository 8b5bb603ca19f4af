"""The example deployment files under ``deploy/`` (never run here: see deploy/README.md) are
checked for syntax with the real tools where they are installed — ``docker compose config`` (or
``docker-compose config``), ``caddy validate``, ``systemd-analyze verify`` — and everywhere with
a structural check: known keys, references that resolve (services, volumes, networks,
variables, upstreams), and every jirahooks command line accepted by jirahooks' own parser."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jirahooks.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
CADDYFILE = DEPLOY / "compose" / "Caddyfile"
DOCKERFILE = DEPLOY / "compose" / "Dockerfile"
UNIT = DEPLOY / "systemd" / "jirahooks.service"

TOP_LEVEL = {"version", "name", "services", "networks", "volumes", "secrets", "configs"}
SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "depends_on",
    "healthcheck", "networks", "ports", "expose", "volumes", "restart", "user", "working_dir",
    "labels", "logging", "deploy", "secrets", "configs", "container_name", "hostname", "init",
    "stop_grace_period", "stop_signal", "ulimits", "read_only", "tmpfs", "cap_drop", "cap_add",
}  # fmt: skip
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merge keys (<<) resolved
    assert isinstance(data, dict)
    return data


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / "compose" / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def _filled_env(tmp_path: Path) -> Path:
    values = {k: v or "example-value" for k, v in _env_example().items()}
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def _parses(argv: list[str]) -> None:
    """A jirahooks command line that jirahooks itself accepts (options spelled right)."""
    assert argv[0].endswith("jirahooks"), argv
    args = argv[1:]
    parser = build_parser(args[0])
    parsed = parser.parse_args(args)
    assert getattr(parsed, "_run", None) is not None, argv


# -- Compose -----------------------------------------------------------------------------------


def test_compose_structure() -> None:
    data = _compose()
    assert {k for k in data if not k.startswith("x-")} <= TOP_LEVEL
    services: dict[str, Any] = data["services"]
    assert {"postgres", "redis", "caddy", "migrate", "jirahooks-1", "jirahooks-2"} <= set(services)
    volumes = set(data.get("volumes") or {})
    networks = set(data.get("networks") or {})
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, (name, target)
            assert spec["condition"] in CONDITIONS, (name, spec)
            if spec["condition"] == "service_healthy":
                check = services[target].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), (name, target)
        check = service.get("healthcheck") or {}
        if check.get("test"):
            assert check["test"][0] in ("CMD", "CMD-SHELL", "NONE"), name
        for mount in service.get("volumes") or []:
            source = str(mount).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in volumes, (name, source)
            elif source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)
        for network in service.get("networks") or []:
            assert network in networks, (name, network)
        build = service.get("build")
        if isinstance(build, dict):
            context = (COMPOSE.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
    # two jirahooks workers on the same image, database, Redis and key
    workers = [services["jirahooks-1"], services["jirahooks-2"]]
    for worker in workers:
        env = worker["environment"]
        assert env["JIRAHOOKS_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["JIRAHOOKS_REDIS_URL"] == "redis://redis:6379/0"
        assert "readyz" in " ".join(worker["healthcheck"]["test"])
    _parses(services["migrate"]["command"])
    assert services["migrate"]["command"][1:3] == ["db", "upgrade"]


def test_compose_variables_are_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    assert used and used <= set(_env_example()), used - set(_env_example())


def test_compose_config_with_docker(tmp_path: Path) -> None:
    env = _filled_env(tmp_path)
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        if command == ["docker", "compose"]:
            probe = subprocess.run([*command, "version"], capture_output=True, check=False)
            if probe.returncode != 0:
                continue
        done = subprocess.run(
            [*command, "--env-file", str(env), "-f", str(COMPOSE), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return
    pytest.skip("neither 'docker compose' nor 'docker-compose' is usable here")


def test_dockerfile_and_caddy_match_the_compose_file() -> None:
    text = DOCKERFILE.read_text()
    for copied in re.findall(r"^COPY (.+) \S+$", text, flags=re.M):
        for path in copied.split():
            assert (ROOT / path).exists(), path
    command = re.search(r"^CMD (\[.*\])$", text, flags=re.M)
    assert command is not None
    argv = yaml.safe_load(command.group(1))
    _parses(argv)
    port = argv[argv.index("--port") + 1]
    upstreams = re.findall(
        r"([a-z0-9-]+):(\d+)", CADDYFILE.read_text().split("reverse_proxy", 1)[1]
    )
    services = _compose()["services"]
    assert {u for u, _ in upstreams} == {"jirahooks-1", "jirahooks-2"}
    assert all(p == port for _, p in upstreams)
    assert all(name in services for name, _ in upstreams)
    caddy = CADDYFILE.read_text()
    assert caddy.count("{") == caddy.count("}")
    assert "respond /metrics 404" in caddy  # the proxy never exposes metrics


def test_caddyfile_validates() -> None:
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed")
    done = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


# -- systemd -----------------------------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_structure() -> None:
    unit = _unit()
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["Type"] in ("simple", "exec", "notify")
    for key in ("ExecStartPre", "ExecStart"):
        _parses(shlex.split(service[key]))
    assert "--log-format json" in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # the unit names /opt/jirahooks/bin/jirahooks; verify a copy pointing at this install's
    jirahooks = Path(sys.executable).with_name("jirahooks")
    copy = tmp_path / "jirahooks.service"
    copy.write_text(UNIT.read_text().replace("/opt/jirahooks/bin/jirahooks", str(jirahooks)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "jirahooks.service" not in done.stderr, done.stderr


# -- metric names in the docs and the alert rules ------------------------------------------


def _exported_names() -> set[str]:
    """Every series name the server exports (families, with their _total/_bucket/… forms)."""
    from jirahooks.server.metrics import Metrics

    names = {
        "jirahooks_metrics_database_up",
        "jirahooks_webhook_queue_depth",
        "jirahooks_webhook_queue_oldest_age_seconds",
    }  # read from the database when scraped
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, []))
    return names


def test_every_metric_named_in_the_docs_and_alerts_exists() -> None:
    exported = _exported_names()
    alerts = yaml.safe_load((DEPLOY / "compose" / "alerts.yml").read_text())
    rules = [r for group in alerts["groups"] for r in group["rules"]]
    assert rules and all(r["expr"] and r["alert"].startswith("Jirahooks") for r in rules)
    operations = (ROOT / "docs" / "operations.md").read_text()
    anchors = {
        "#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", operations, flags=re.M)
    }
    for rule in rules:
        assert rule["annotations"]["runbook"].split("operations.md")[1] in anchors, rule
    named = set(re.findall(r"(?<![/\w])jirahooks_[a-z_]+", operations))
    named |= {n for r in rules for n in re.findall(r"\bjirahooks_[a-z_]+", r["expr"])}
    assert named and named <= exported, named - exported
