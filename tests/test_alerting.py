"""What on-call people get from the alert rules: every metric the rules and
the dashboard name is one hangard serves, every ``runbook_url`` lands on a
runbook section of ``deploy/README.md``, and the Alertmanager example groups
and inhibits so that a broken target pages once, not once per tag.

``amtool check-config`` checks the example; a real Alertmanager
(``prometheus-alertmanager``, from Debian like promtool; ``scripts/setup.sh``
installs it) on a loopback port is sent the alerts of a failing target and
says which it inhibits. Tests that need a tool are skipped only when it is
missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from hangard.daemon.metrics import Metrics
from tests.harness.daemon import wait_until
from tests.harness.registry import free_port
from tests.test_deploy import DEPLOY, METRICS, load_rules, metric_names

INHIBIT = DEPLOY / "prometheus" / "alertmanager-inhibit.example.yaml"
RUNBOOKS = DEPLOY / "README.md"
RUNBOOK_URL = re.compile(
    r"^\{\{ or \$externalLabels\.hangard_runbooks \"deploy/README\.md\" \}\}#([a-z0-9-]+)$"
)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    return path


# ------------------------------------------------------------ metric names
def served_series_names(metrics: Metrics) -> set[str]:
    """Every series name hangard's registry can serve, children or not: a
    counter's ``_total``, a histogram's ``_bucket``/``_sum``/``_count``."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
    }
    names = set()
    family: Metric
    # the page as served: the item families are rendered beside the registry
    for family in text_string_to_metric_families(metrics.render().decode()):
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_every_metric_the_rules_and_dashboard_may_use_is_served() -> None:
    """tests/test_deploy.py checks the rules' and the dashboard's PromQL
    against METRICS; here METRICS is checked against what hangard serves."""
    served = served_series_names(Metrics()) | {"up"}
    assert served >= METRICS, METRICS - served
    assert {
        "process_start_time_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
        "hangard_registry_request_duration_seconds_bucket",
        "hangard_schedule_cycles_total",
    } <= served


def test_every_metric_named_in_rules_and_their_annotations_is_served() -> None:
    """The rules' expressions and the PromQL their runbooks quote (the
    dashboard's PromQL is checked against METRICS in tests/test_deploy.py)."""
    served = served_series_names(Metrics()) | {"up"}
    named: dict[str, set[str]] = {}
    for rule in load_rules():
        named[rule["alert"]] = metric_names(rule["expr"])
        # the PromQL a runbook quotes (runbook_url names an external label)
        text = " ".join(v for k, v in rule["annotations"].items() if k != "runbook_url")
        named[rule["alert"]] |= set(re.findall(r"\bhangard_[a-z_]+", text))
    for where, names in named.items():
        assert names <= served, f"{where}: {names - served}"


# ----------------------------------------------------------------- runbooks
def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub and GitLab give a file's headings (lower case,
    punctuation dropped, spaces to dashes)."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def runbook_sections() -> dict[str, str]:
    """``{alert: its section of deploy/README.md}`` under "## Runbooks"."""
    text = RUNBOOKS.read_text().split("\n## Runbooks\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (\w+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_runbook_url_points_at_a_runbook_section() -> None:
    anchors = github_anchors(RUNBOOKS.read_text())
    sections = runbook_sections()
    for rule in load_rules():
        name = rule["alert"]
        match = RUNBOOK_URL.match(rule["annotations"].get("runbook_url", ""))
        assert match, f"{name}: runbook_url {rule['annotations'].get('runbook_url')!r}"
        assert match.group(1) == name.lower(), name
        assert match.group(1) in anchors, f"{name}: no heading #{match.group(1)} in {RUNBOOKS}"
        assert name in sections, f"{name}: no ### {name} under ## Runbooks"
    assert set(sections) == {r["alert"] for r in load_rules()}, "a runbook without an alert"


def test_each_runbook_says_what_it_means_what_to_check_and_what_to_type() -> None:
    for name, body in runbook_sections().items():
        assert "**What it means**" in body, name
        assert "**First checks**" in body, name
        assert "```sh\n" in body, f"{name}: no commands to type"


def test_metrics_the_runbooks_quote_are_served() -> None:
    served = served_series_names(Metrics())
    for name, body in runbook_sections().items():
        quoted = set(re.findall(r"\bhangard_[a-z_]+", body)) - {"hangard_runbooks"}
        assert quoted <= served, f"{name}: {quoted - served}"


def test_runbook_promql_parses(tmp_path: Path) -> None:
    """The PromQL blocks of the runbooks, checked by promtool as recording rules."""
    promtool = need("promtool")
    queries = [
        line
        for body in runbook_sections().values()
        for block in re.findall(r"```promql\n(.*?)```", body, flags=re.DOTALL)
        for line in block.splitlines()
        if line.strip()
    ]
    assert queries
    rules = [{"record": f"runbook:query{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "runbook-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runbook_commands_are_hangard_commands_that_exist() -> None:
    """Every ``hangard SUBCOMMAND`` a runbook tells you to type exists."""
    from typer.main import get_command

    from hangard.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name, body in runbook_sections().items():
        for block in re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL):
            for used in re.findall(r"^hangard (\w[\w-]*)", block, flags=re.MULTILINE):
                assert used in commands, f"{name}: hangard {used}"


# -------------------------------------------------------------- alertmanager
def test_inhibit_example_passes_amtool() -> None:
    result = subprocess.run(
        [need("amtool"), "check-config", str(INHIBIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 inhibit rules" in result.stdout


def test_inhibit_example_names_real_alerts_and_labels() -> None:
    config = yaml.safe_load(INHIBIT.read_text())
    rules = {r["alert"]: r for r in load_rules()}
    (inhibit,) = config["inhibit_rules"]
    (source,) = inhibit["source_matchers"]
    assert source == "alertname = HangardTargetFailing"
    (target,) = inhibit["target_matchers"]
    muted = re.fullmatch(r'alertname =~ "([\w|]+)"', target)
    assert muted, target
    assert set(muted.group(1).split("|")) <= set(rules)
    # the source alert keeps the labels the rule compares
    source_labels = set(
        re.findall(r"by \(([^)]*)\)", rules["HangardTargetFailing"]["expr"])[0].split(", ")
    )
    assert set(inhibit["equal"]) <= source_labels
    assert {"instance", "target"} <= set(config["route"]["group_by"])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager with the example config on a loopback port; its URL."""
    binary = need("prometheus-alertmanager")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={INHIBIT}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError((tmp_path / "alertmanager.log").read_text())
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, 30, message="alertmanager /-/ready")
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


def _alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "job": "hangard", "instance": "mirror-1:9469", **labels},
        "annotations": {"summary": name},
    }


def test_a_failing_target_pages_once_not_once_per_tag(alertmanager: str) -> None:
    """Alertmanager is sent what the rules fire when target ``edge`` is down
    (HangardTargetFailing and a HangardSyncFailing per tag) and one failing
    tag on target ``mirror``: it inhibits edge's per-tag alerts only."""
    tags = [("docker.io/library/nginx", "1.27"), ("docker.io/library/redis", "7")]
    alerts = [_alert("HangardTargetFailing", target="edge", severity="critical")]
    alerts += [
        _alert("HangardSyncFailing", image=i, tag=t, target="edge", severity="warning")
        for i, t in tags
    ]
    alerts.append(
        _alert(
            "HangardSyncFailing", image=tags[0][0], tag="1.27", target="mirror", severity="warning"
        )
    )
    posted = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5)
    assert posted.status_code == 200, posted.text

    def states() -> dict[tuple[str, str, str], str] | None:
        got = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        if len(got) < len(alerts):
            return None
        return {
            (a["labels"]["alertname"], a["labels"]["target"], a["labels"].get("tag", "")): a[
                "status"
            ]["state"]
            for a in got
        }

    found = wait_until(states, 20, message="alerts in alertmanager")
    assert found == {
        ("HangardTargetFailing", "edge", ""): "active",
        ("HangardSyncFailing", "edge", "1.27"): "suppressed",
        ("HangardSyncFailing", "edge", "7"): "suppressed",
        ("HangardSyncFailing", "mirror", "1.27"): "active",
    }
    # what pages is grouped: one notification for the target, one for the tag
    groups = httpx.get(
        f"{alertmanager}/api/v2/alerts/groups",
        params={"inhibited": "false", "silenced": "false"},
        timeout=5,
    ).json()
    paging = {(g["labels"]["alertname"], g["labels"]["target"]) for g in groups if g["alerts"]}
    assert paging == {("HangardTargetFailing", "edge"), ("HangardSyncFailing", "mirror")}
