"""Scale-out deployment files: the systemd template unit (``hangard@.service``,
the instance number is the shard), the Kubernetes StatefulSet base in
``deploy/kubernetes/`` validated offline against the API's schemas, and the
alert rules with two instances (promtool)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
KUBERNETES = ROOT / "deploy" / "kubernetes"
PROMETHEUS = ROOT / "deploy" / "prometheus"
KUBERNETES_VERSION = "1.34"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (scripts/apt-packages.txt)")
    return path


# --------------------------------------------------------------- systemd


def template_lines() -> tuple[list[str], list[str]]:
    """(hangard.service's lines, the template's) from ``[Unit]`` on, with the
    template's ``# shard:`` marked lines (and the comment) taken out."""
    plain = (SYSTEMD / "hangard.service").read_text()
    template = (SYSTEMD / "hangard@.service").read_text()
    plain_lines = plain[plain.index("[Unit]") :].splitlines()
    kept, skip = [], False
    for line in template[template.index("[Unit]") :].splitlines():
        if line.startswith("# shard:"):
            skip = True
            continue
        if skip and line.startswith("#"):
            continue  # the marked setting's own comment, if any
        kept.append("<shard>" if skip else line)
        skip = False
    return plain_lines, kept


def test_the_template_is_the_unit_but_for_the_shard_lines() -> None:
    plain, template = template_lines()
    replaced = {
        "Description=hangard container image mirroring daemon",
        "ExecStart=/usr/local/bin/hangard run --config %E/hangard/hangard.yaml",
        "Environment=HANGARD_STATE_DIR=%S/hangard",
        "Environment=HANGARD_METRICS_ADDRESS=127.0.0.1:9469",
        "StateDirectory=hangard",
    }
    # line for line the same, but where the template sets a shard's own value
    assert [line for line in plain if line not in replaced] == [
        line for line in template if line != "<shard>"
    ]
    assert template.count("<shard>") == len(replaced) + 1  # + its own env file
    text = (SYSTEMD / "hangard@.service").read_text()
    assert "--shard %i/${HANGARD_SHARDS}" in text
    assert "Environment=HANGARD_STATE_DIR=%S/hangard/%i" in text
    assert "StateDirectory=hangard/%i" in text


@pytest.fixture
def instance_unit(tmp_path: Path) -> Path:
    """Instance 2 of the template, its ExecStart pointing at an executable
    that exists here (verify checks it)."""
    fake = tmp_path / "bin" / "hangard"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    text = (SYSTEMD / "hangard@.service").read_text()
    unit = tmp_path / "hangard@2.service"
    unit.write_text(text.replace("ExecStart=/usr/local/bin/hangard ", f"ExecStart={fake} "))
    return unit


def test_the_template_unit_verifies_and_is_as_locked_down(instance_unit: Path) -> None:
    analyze = need("systemd-analyze")
    cwd = instance_unit.parent
    verify = subprocess.run(
        [analyze, "verify", "--man=no", instance_unit.name],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    output = verify.stdout + verify.stderr
    assert verify.returncode == 0 and "hangard" not in output, output
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", instance_unit.name],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for hangard@2\.service: (\d+\.\d+)", security.stdout)
    assert match and float(match.group(1)) <= 2.0, security.stdout + security.stderr


# ------------------------------------------------------------ kubernetes


def documents() -> dict[str, dict[str, Any]]:
    """deploy/kubernetes/*.yaml by kind (one resource per file)."""
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        (doc,) = list(yaml.safe_load_all(path.read_text()))
        found[doc["kind"]] = doc
    return found


def test_the_kustomization_lists_every_file() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == documents()["Namespace"]["metadata"]["name"]


@pytest.mark.parametrize(
    "kind",
    ["Namespace", "ConfigMap", "Secret", "Service", "StatefulSet", "PodDisruptionBudget"],
)
def test_each_resource_validates_against_the_api_schema(kind: str) -> None:
    doc = documents()[kind]
    assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validation_is_not_vacuous() -> None:
    doc = documents()["StatefulSet"]
    doc["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_podmonitor_scrapes_the_metrics_port() -> None:
    # a prometheus-operator CRD: no API schema to validate against offline
    monitor = documents()["PodMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "30s"}
    labels = documents()["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def container() -> dict[str, Any]:
    (one,) = documents()["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    return dict(one)


def env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in container()["env"]}


def test_the_statefulset_shards_by_ordinal() -> None:
    spec = documents()["StatefulSet"]["spec"]
    assert env()["HANGARD_SHARDS"] == str(spec["replicas"])
    assert "HANGARD_SHARD" not in env()  # the ordinal comes from the pod hostname
    assert spec["serviceName"] == documents()["Service"]["metadata"]["name"]
    assert spec["podManagementPolicy"] == "Parallel"
    (claim,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env()["HANGARD_STATE_DIR"]
    assert mounts["config"] == "/etc/hangard"
    assert container()["args"] == ["run", "--config", "/etc/hangard/hangard.yaml"]
    assert container()["envFrom"] == [{"secretRef": {"name": "hangard-registries"}}]


def test_probes_and_the_grace_period_match_the_daemon() -> None:
    pod = documents()["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > float(env()["HANGARD_SHUTDOWN_GRACE"])
    assert container()["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container()["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port = env()["HANGARD_METRICS_ADDRESS"].rsplit(":", 1)[1]
    assert container()["ports"] == [{"name": "metrics", "containerPort": int(port)}]


def test_the_pod_is_hardened_like_the_systemd_unit() -> None:
    pod = documents()["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    labels = documents()["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert documents()["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_kustomize_renders_the_base_when_kubectl_is_here() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the base is plain YAML, validated above")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True
    ).stdout
    docs = list(yaml.safe_load_all(rendered))
    assert {d["kind"] for d in docs} == set(documents())
    for doc in docs:
        assert doc["metadata"].get("namespace", "hangard") == "hangard"
        if doc["kind"] != "PodMonitor":
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


# ------------------------------------------------------------ prometheus


def test_the_alert_rules_work_with_two_instances() -> None:
    result = subprocess.run(
        [need("promtool"), "test", "rules", "hangard-rules.shards.test.yaml"],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
