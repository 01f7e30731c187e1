"""The deployment files in ``deploy/``: systemd unit, Prometheus rules and
scrape config, Grafana dashboard, Dockerfile.

The real tools check them where they are installed (``scripts/setup.sh``
installs both): ``systemd-analyze verify`` / ``security --offline`` for the
unit, ``promtool check rules`` / ``test rules`` / ``check config`` for the
Prometheus files.  Tests that need a tool are skipped, with the reason, only
when that tool is missing.  Everything else (the metric names used by the
rules and the dashboard, the dashboard's panels, the Dockerfile's structure
and its HEALTHCHECK command) is checked in Python.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "hangard.service"
ENV_FILE = DEPLOY / "systemd" / "hangard.env"
RULES = DEPLOY / "prometheus" / "hangard-rules.yaml"
RULES_TEST = DEPLOY / "prometheus" / "hangard-rules.test.yaml"
SCRAPE = DEPLOY / "prometheus" / "scrape.yaml"
DASHBOARD = DEPLOY / "grafana" / "hangard-dashboard.json"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"

# The daemon's metrics: the interface the rules and the dashboard may use.
METRICS = {
    "hangard_image_in_sync",
    "hangard_image_drift",
    "hangard_image_missing",
    "hangard_attachments_missing",
    "hangard_image_last_success_timestamp_seconds",
    "hangard_copy_failures_total",
    "hangard_copy_consecutive_failures",
    "hangard_sync_cycles_total",
    "hangard_sync_cycle_duration_seconds_bucket",
    "hangard_sync_cycle_duration_seconds_sum",
    "hangard_sync_cycle_duration_seconds_count",
    "hangard_last_successful_cycle_timestamp_seconds",
    "hangard_sync_cycle_timeouts_total",
    "hangard_schedule_cycles_total",
    "hangard_bytes_copied_total",
    "hangard_blobs_total",
    "hangard_registry_requests_total",
    "hangard_registry_request_duration_seconds_bucket",
    "hangard_registry_request_duration_seconds_sum",
    "hangard_registry_request_duration_seconds_count",
    "hangard_registry_ratelimit_remaining",
    "hangard_config_last_reload_successful",
    "hangard_config_last_reload_timestamp_seconds",
    "hangard_desired_images",
    "hangard_build_info",
    "hangard_prune_deletions_total",
    "process_start_time_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_cpu_seconds_total",
    "python_info",
    "up",  # added by Prometheus for the scrape
}
ALERTS = {
    "HangardSyncFailing",
    "HangardImageDrift",
    "HangardImageMissing",
    "HangardAttachmentsMissing",
    "HangardTargetFailing",
    "HangardSignatureRefused",
    "HangardNoSuccessfulCycle",
    "HangardConfigReloadFailed",
    "HangardRateLimitLow",
    "HangardDown",
    "HangardAbsent",
    "HangardPruneRefused",
}
ANNOTATIONS = {"summary", "description", "runbook", "runbook_url"}
SETTINGS = {
    "HANGARD_CONFIG",
    "HANGARD_STATE_DIR",
    "HANGARD_LOG_FORMAT",
    "HANGARD_LOG_LEVEL",
    "HANGARD_METRICS_ADDRESS",
    "HANGARD_CONCURRENCY",
    "HANGARD_WATCH_CONFIG",
    "HANGARD_SHUTDOWN_GRACE",
    "HANGARD_CYCLE_TIMEOUT",
    "HANGARD_PRUNE",
    "HANGARD_POLICY",
    "HANGARD_INSECURE_POLICY",
}
DEFAULT_SHUTDOWN_GRACE = 30.0


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    return path


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


# --- PromQL metric names -----------------------------------------------------

_PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_PROMQL_LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_PROMQL_IDENT = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")
_PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    Strings, label matchers, ranges, label lists (``by (...)``) and Grafana
    variables are removed first; what remains that is an identifier, not a
    function call and not a keyword is a metric name.
    """
    text = _PROMQL_STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)
    text = _PROMQL_LABEL_LIST.sub(" ", text)
    names = set()
    for match in _PROMQL_IDENT.finditer(text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() in _PROMQL_KEYWORDS:
            continue
        names.add(match.group())
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('absent(up{job="hangard"})', {"up"}),
        ("time() - foo_seconds > 2 * 3600", {"foo_seconds"}),
        ('sum by (reason) (rate(a_total{x=~"$instance"}[5m])) or b', {"a_total", "b"}),
        ("histogram_quantile(0.95, sum(rate(h_bucket[$__rate_interval])) by (le))", {"h_bucket"}),
        ('label_replace(d == 1, "state", "drifted", "", "") or m == bool 1', {"d", "m"}),
        ("rate(x[1h] offset 1d) * 1e3 unless on (instance) y", {"x", "y"}),
        (
            'max by (instance, version) (hangard_build_info{instance=~"$instance"})',
            {"hangard_build_info"},
        ),
    ],
)
def test_metric_names_parser(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# --- systemd -----------------------------------------------------------------


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file, each a list of (key, value) in order (keys may
    repeat, as in systemd)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=VALUE: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def unit_value(section: list[tuple[str, str]], key: str) -> str:
    values = unit_values(section, key)
    assert values, f"{key}= is not set"
    return values[-1]


def seconds(value: str) -> float:
    """A systemd time span (``45s``, ``1min 30s``, ``90``) in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


@pytest.fixture
def verifiable_unit(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart names an executable that exists here:
    ``systemd-analyze verify`` checks that the binary is executable, and
    /usr/local/bin/hangard is not installed on a test machine."""
    text = UNIT.read_text()
    (exec_start,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert exec_start.startswith("ExecStart=/usr/local/bin/hangard ")
    fake = tmp_path / "bin" / "hangard"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    unit = tmp_path / "hangard.service"
    unit.write_text(text.replace("ExecStart=/usr/local/bin/hangard ", f"ExecStart={fake} "))
    return unit


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    # --man=no: do not look up Documentation= man pages.  verify loads the
    # unit and its dependencies offline; no running systemd is needed.
    return run(need("systemd-analyze"), "verify", "--man=no", unit.name, cwd=unit.parent)


def test_unit_verifies_cleanly(verifiable_unit: Path) -> None:
    result = verify(verifiable_unit)
    output = result.stdout + result.stderr
    ours = [line for line in output.splitlines() if "hangard" in line]
    assert result.returncode == 0, output
    assert not ours, "systemd-analyze verify complains about the unit:\n" + "\n".join(ours)


def test_unit_verify_would_catch_mistakes(verifiable_unit: Path) -> None:
    """The check above is not vacuous: verify reports a bad key or value."""
    text = verifiable_unit.read_text()
    verifiable_unit.write_text(
        text.replace("[Service]\n", "[Service]\nProtectSytem=strict\nRestart=sometimes\n")
    )
    result = verify(verifiable_unit)
    output = result.stdout + result.stderr
    assert "Unknown key 'ProtectSytem'" in output, output
    assert "sometimes" in output, output


def test_unit_sandbox_exposure(verifiable_unit: Path) -> None:
    """``systemd-analyze security`` rates the sandbox (0 = locked down, 10 =
    fully exposed); a service that needs the network cannot reach 0."""
    result = run(
        need("systemd-analyze"),
        "security",
        "--offline=yes",
        "--no-pager",
        verifiable_unit.name,
        cwd=verifiable_unit.parent,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Overall exposure level for hangard\.service: (\d+\.\d+)", output)
    assert match, output
    assert float(match.group(1)) <= 2.0, output


def test_unit_settings() -> None:
    unit = parse_unit(UNIT)
    service, install = unit["Service"], unit["Install"]
    assert unit_value(service, "Type") == "notify"
    assert unit_value(service, "NotifyAccess") == "main"
    exec_start = unit_value(service, "ExecStart").split()
    assert exec_start[:2] == ["/usr/local/bin/hangard", "run"]
    # %E is /etc for the system manager, so this is the ConfigurationDirectory.
    assert exec_start[2:] == ["--config", "%E/hangard/hangard.yaml"]
    assert unit_value(service, "ConfigurationDirectory") == "hangard"
    assert unit_value(service, "StateDirectory") == "hangard"
    assert unit_value(service, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert unit_value(service, "EnvironmentFile") == "-/etc/hangard/hangard.env"
    environment = dict(
        item.split("=", 1) for line in unit_values(service, "Environment") for item in line.split()
    )
    assert environment["HANGARD_STATE_DIR"] == "%S/hangard"
    assert environment["HANGARD_LOG_FORMAT"] == "json"
    assert set(environment) <= SETTINGS
    grace = float(environment.get("HANGARD_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE))
    assert seconds(unit_value(service, "TimeoutStopSec")) > grace
    assert unit_value(service, "Restart") == "on-failure"
    assert seconds(unit_value(service, "RestartSec")) > 0
    assert unit_value(install, "WantedBy") == "multi-user.target"

    hardening = {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "SystemCallArchitectures": "native",
        "UMask": "0077",
    }
    for key, expected in hardening.items():
        assert unit_value(service, key) == expected, key
    assert "@system-service" in unit_values(service, "SystemCallFilter")
    # Only the state directory is writable: no extra writable paths.
    assert not unit_values(service, "ReadWritePaths")


def test_env_file() -> None:
    """Every line is a comment or KEY=VALUE; the documented settings are the
    daemon's, and it sets nothing by default (all examples are commented)."""
    documented = set()
    for line in ENV_FILE.read_text().splitlines():
        if not line.strip():
            continue
        assert line.startswith("#"), f"active setting in the example env file: {line!r}"
        if match := re.match(r"#(HANGARD_[A-Z_]+)=", line):
            documented.add(match.group(1))
    assert SETTINGS - {"HANGARD_CONFIG"} <= documented
    assert documented - SETTINGS <= {"HANGARD_DOCKERHUB_TOKEN", "HANGARD_MIRROR_PASSWORD"}


# --- Prometheus ----------------------------------------------------------------


def load_rules(path: Path = RULES) -> list[dict[str, Any]]:
    (group,) = yaml.safe_load(path.read_text())["groups"]
    assert group["name"] == "hangard"
    rules: list[dict[str, Any]] = group["rules"]
    return rules


def test_rules_check() -> None:
    result = run(need("promtool"), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_rules_unit_tests() -> None:
    result = run(need("promtool"), "test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_content() -> None:
    rules = load_rules()
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        name = rule["alert"]
        assert rule.get("for"), f"{name}: no for:"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook", "runbook_url"} <= set(annotations), name
        for key in ("summary", "description"):  # each names what fires: its labels
            assert "{{ $labels." in annotations[key], f"{name}: {key} uses no label"
        assert metric_names(rule["expr"]) <= METRICS, f"{name}: {rule['expr']}"
    by_name = {r["alert"]: r for r in rules}
    assert by_name["HangardDown"]["expr"] == 'up{job="hangard"} == 0'
    assert by_name["HangardAbsent"]["expr"] == 'absent(up{job="hangard"})'


def test_rule_tests_cover_every_alert() -> None:
    """Every alert has a firing expectation with labels and annotations, and
    the healthy-daemon group expects silence from every alert."""
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    firing: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            for alert in check.get("exp_alerts") or []:
                assert alert["exp_labels"]["severity"], check
                assert set(alert["exp_annotations"]) == ANNOTATIONS, check
                firing.add(check["alertname"])
    assert firing == ALERTS
    (healthy,) = [case for case in tests if case["name"] == "healthy daemon"]
    silent = {c["alertname"] for c in healthy["alert_rule_test"] if not c.get("exp_alerts")}
    assert silent == ALERTS


def _mutants() -> Iterator[tuple[str, str]]:
    yield "", "none"  # the control: the rules, round-tripped through YAML, pass
    for name in sorted(ALERTS):
        yield name, "never fires"
        yield name, "no for"


@pytest.mark.parametrize(("alert", "mutation"), list(_mutants()))
def test_rule_tests_catch_broken_rules(tmp_path: Path, alert: str, mutation: str) -> None:
    """The promtool tests fail if an alert can never fire (so each has a real
    firing case) or fires without waiting (so each has a pending case)."""
    promtool = need("promtool")
    document = yaml.safe_load(RULES.read_text())
    if mutation != "none":
        (rule,) = [r for r in document["groups"][0]["rules"] if r["alert"] == alert]
        if mutation == "never fires":
            rule["expr"] = "vector(1) < 0"
        else:
            rule["for"] = "0s"
    (tmp_path / RULES.name).write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = run(promtool, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    output = result.stdout + result.stderr
    if mutation == "none":
        assert result.returncode == 0, output
        return
    assert result.returncode != 0, f"{alert} with {mutation!r} still passes the promtool tests"
    assert f"alertname: {alert}," in output, output


def test_scrape_config() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "hangard"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9469"]
    assert config["rule_files"] == [RULES.name]
    # promtool also checks the rule file it names (resolved next to it).
    result = run(need("promtool"), "check", "config", SCRAPE.name, cwd=SCRAPE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana ---------------------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def panel_exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel.get("targets", []) if "expr" in t]


def find_panel(dashboard: dict[str, Any], type_: str, *fragments: str) -> dict[str, Any]:
    """The one panel of ``type_`` whose queries contain every fragment
    (whitespace-insensitive)."""

    def squeeze(text: str) -> str:
        return re.sub(r"\s+", "", text)

    found = [
        panel
        for panel in all_panels(dashboard)
        if panel["type"] == type_
        and all(squeeze(f) in squeeze(" ".join(panel_exprs(panel))) for f in fragments)
    ]
    assert len(found) == 1, f"want one {type_} panel with {fragments}, found {len(found)}"
    return found[0]


def test_dashboard_metadata() -> None:
    dashboard = load_dashboard()
    assert dashboard["title"] == "hangard"
    assert dashboard["uid"] == "hangard"
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.+),\s*\w+\)", text)
            assert inner, text
            assert metric_names(inner.group(1)) <= METRICS, text


def test_dashboard_queries_use_hangard_metrics() -> None:
    dashboard = load_dashboard()
    panels = all_panels(dashboard)
    assert panels
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        exprs = panel_exprs(panel)
        assert exprs, f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target.get("refId"), panel["title"]
        for expr in exprs:
            names = metric_names(expr)
            assert names, f"{panel['title']}: no metric in {expr!r}"
            assert names <= METRICS, f"{panel['title']}: unknown metrics {names - METRICS}"


def test_dashboard_layout() -> None:
    """Panels fit the 24-column grid and do not overlap."""
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels(load_dashboard()):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["h"] > 0
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_panels() -> None:
    dashboard = load_dashboard()
    find_panel(dashboard, "stat", "sum(hangard_image_in_sync", "/ count(hangard_image_in_sync")
    table = find_panel(dashboard, "table", "hangard_image_drift", "hangard_image_missing")
    (expr,) = panel_exprs(table)
    assert re.search(r"hangard_image_drift\{[^}]*\}\s*==\s*1", expr)
    assert re.search(r"hangard_image_missing\{[^}]*\}\s*==\s*1", expr)
    assert " or " in expr
    assert table["targets"][0]["instant"] is True
    assert table["targets"][0]["format"] == "table"
    find_panel(
        dashboard, "timeseries", "sum by (reason) (rate(hangard_copy_failures_total", "[5m]))"
    )
    find_panel(dashboard, "timeseries", "by (target_registry)", "rate(hangard_bytes_copied_total")
    durations = find_panel(dashboard, "timeseries", "hangard_sync_cycle_duration_seconds_bucket")
    quantiles = sorted(
        re.search(r"histogram_quantile\(([\d.]+),", e).group(1)  # type: ignore[union-attr]
        for e in panel_exprs(durations)
    )
    assert quantiles == ["0.5", "0.95"]
    assert all("by (le)" in e for e in panel_exprs(durations))
    find_panel(dashboard, "timeseries", "by (registry)", "hangard_registry_ratelimit_remaining")
    find_panel(dashboard, "stat", "hangard_config_last_reload_successful")
    find_panel(dashboard, "stat", "hangard_desired_images")


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every query is valid PromQL: promtool checks them as recording rules
    (with Grafana's variables replaced by plausible values)."""
    promtool = need("promtool")
    rules = []
    for panel in all_panels(load_dashboard()):
        for i, expr in enumerate(panel_exprs(panel)):
            expr = expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
            assert "$" not in expr, f"{panel['title']}: unhandled variable in {expr!r}"
            rules.append({"record": f"dashboard:panel{panel['id']}:query{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Dockerfile -----------------------------------------------------------------


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments
    and parser directives dropped."""
    instructions = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        if not line:
            continue
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends in a line continuation"
    return instructions


def by_stage(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        assert stages, f"{instruction} before FROM"
        stages[-1].append(instruction)
    return stages


def docker_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in stage:
        if word == "ENV":
            for item in args.split():
                key, _, value = item.partition("=")
                env[key] = value
    return env


def test_dockerfile_structure() -> None:
    instructions = dockerfile_instructions()
    stages = by_stage(instructions)
    assert len(stages) >= 2, "not a multi-stage build"
    names = {}
    for stage in stages:
        image, *alias = stage[0][1].split()
        # one base for every stage, pinned by digest (tests/test_dockerfile.py)
        assert image == stages[0][0][1].split()[0]
        if alias:
            assert alias[0].upper() == "AS"
            names[alias[1]] = stage
    builder, runtime = stages[0], stages[-1]
    assert any(w == "RUN" and "pip wheel" in a for w, a in builder)
    # The runtime installs the builder's wheels.
    installs = [a for w, a in runtime if w == "RUN" and "pip install" in a]
    assert installs and all("--no-index" in a for a in installs)
    for _, args in instructions:
        for stage_name in re.findall(r"from=(\w+)", args):
            assert stage_name in names, f"unknown stage {stage_name}"

    users = [a for w, a in runtime if w == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "10001"
    assert any(w == "RUN" and "--uid 10001" in a for w, a in runtime)

    env = docker_env(runtime)
    assert env["HANGARD_CONFIG"] == "/etc/hangard/hangard.yaml"
    assert env["HANGARD_STATE_DIR"] == "/var/lib/hangard"
    assert env["HANGARD_METRICS_ADDRESS"] == "0.0.0.0:9469"
    assert env["HANGARD_LOG_FORMAT"] == "json"
    (volume,) = [json.loads(a) for w, a in runtime if w == "VOLUME"]
    assert set(volume) == {"/etc/hangard", "/var/lib/hangard"}
    assert [a for w, a in runtime if w == "EXPOSE"] == ["9469"]
    assert [a for w, a in runtime if w == "STOPSIGNAL"] == ["SIGTERM"]
    assert [json.loads(a) for w, a in runtime if w == "ENTRYPOINT"] == [["hangard"]]
    assert [json.loads(a) for w, a in runtime if w == "CMD"] == [["run"]]


def test_dockerfile_copies_what_the_wheel_needs() -> None:
    """The builder copies paths that exist, and they include everything
    pyproject.toml refers to (readme, the version module, the packages)."""
    builder = by_stage(dockerfile_instructions())[0]
    copied: list[str] = []
    for word, args in builder:
        if word == "COPY":
            *sources, _ = [a for a in args.split() if not a.startswith("--")]
            copied.extend(sources)
    for source in copied:
        assert (ROOT / source).exists(), source
    assert "pyproject.toml" in copied
    assert "hangard" in copied
    project = (ROOT / "pyproject.toml").read_text()
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert readme and readme.group(1) in copied
    assert "tests" not in copied and ".venv" not in copied


def healthcheck_command() -> list[str]:
    runtime = by_stage(dockerfile_instructions())[-1]
    (args,) = [a for w, a in runtime if w == "HEALTHCHECK"]
    options, _, command = args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv: list[str] = json.loads(command)
    assert argv[:2] == ["python", "-c"], "slim images have no curl: use Python"
    assert "/healthz" in argv[2]
    return argv


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012  (shared on purpose, per test)

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_dockerfile_healthcheck(status: int, healthy: bool) -> None:
    """The HEALTHCHECK command, run with this Python, asks /healthz on the
    port in HANGARD_METRICS_ADDRESS (0.0.0.0 meaning loopback) and fails on
    an error status."""
    argv = healthcheck_command()
    paths: list[str] = []
    handler = type("Handler", (_Health,), {"status": status, "paths": paths})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "HANGARD_METRICS_ADDRESS": f"0.0.0.0:{server.server_port}"}
        result = subprocess.run(
            [sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, check=False
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr
    assert paths == ["/healthz"]


def test_dockerfile_healthcheck_fails_when_nothing_listens() -> None:
    argv = healthcheck_command()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_port
    server.server_close()  # a port that was free and now has no listener
    env = {**os.environ, "HANGARD_METRICS_ADDRESS": f"0.0.0.0:{port}"}
    result = subprocess.run(
        [sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, check=False
    )
    assert result.returncode != 0
