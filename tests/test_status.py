"""``hangard status`` and the daemon's ``/status`` and ``/``: a real ``hangard
run`` subprocess against real registries, asked by a real ``hangard status``
subprocess; the text rendering of every item state on a document."""

from __future__ import annotations

import json
import platform
import re
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hangard.render_status import STATES, item_state, render_status
from tests.harness import images
from tests.harness.daemon import HangardDaemon, daemons, wait_until
from tests.harness.registry import Registry, free_port
from tests.helpers_cli import Hangard
from tests.test_daemon import CYCLE_TIMEOUT, Make, desired_state, entry, write_config

SCHEDULE = "1h"


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Make]:
    with daemons(tmp_path) as make:
        yield make


@pytest.fixture
def running(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> tuple[HangardDaemon, Registry]:
    """A daemon whose first cycle copied ``app/good:1`` and failed on
    ``app/gone:1`` (no such tag at the source)."""
    source, target = plain_registry, plain_registry2
    images.push_oci_image(source, "app/good", "1", seed=70)
    config = write_config(
        tmp_path / "hangard.yaml",
        desired_state(
            target,
            [entry(source, "app/good", "1"), entry(source, "app/gone", "1")],
            sources={source: None},
            schedule=SCHEDULE,
        ),
    )
    daemon = make_daemon(config, watch=False).start()
    wait_until(daemon.ready, CYCLE_TIMEOUT, message="first cycle")
    return daemon, source


def parse_rfc3339(text: str) -> float:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    return datetime.fromisoformat(text).timestamp()


def test_status_endpoint_has_schedules_next_runs_rfc3339_times_and_an_index(
    running: tuple[HangardDaemon, Registry],
) -> None:
    daemon, source = running
    before = time.time()
    doc = daemon.status()

    (schedule,) = doc["schedules"]
    assert schedule["schedule"] == SCHEDULE
    assert schedule["last_cycle_result"] == "failure"  # app/gone failed
    assert schedule["last_good_cycle"] is None
    assert schedule["running"] is False
    assert 0 <= schedule["last_cycle_duration_seconds"] < CYCLE_TIMEOUT
    finished = schedule["last_cycle_finished_at"]
    assert doc["started_at"] <= finished <= before
    # the next run is an hour after the first (plus at most 5 s of jitter)
    assert finished + 3600 - 60 < schedule["next_run"] < before + 3600 + 6
    # every epoch time has an RFC 3339 twin that says the same
    for epoch_name in ("last_cycle_finished_at", "next_run"):
        twin = parse_rfc3339(schedule[f"{epoch_name}_rfc3339"])
        assert twin == pytest.approx(schedule[epoch_name], abs=0.001)
    assert schedule["last_good_cycle_rfc3339"] is None
    assert parse_rfc3339(doc["started_at_rfc3339"]) == pytest.approx(doc["started_at"], abs=0.001)
    items = {i["image"]: i for i in doc["items"]}
    good, gone = items[f"{source.host}/app/good"], items[f"{source.host}/app/gone"]
    assert parse_rfc3339(good["last_success_rfc3339"]) == pytest.approx(good["last_success"], 1e-9)
    assert good["last_attempt_rfc3339"] is not None
    assert gone["last_success"] is None and gone["last_success_rfc3339"] is None
    assert gone["last_error_reason"] == "not_found"
    # the fields /status had before are all still there
    assert {"version", "config", "config_generation", "ready", "last_reload_errors"} <= set(doc)

    # "/" is an index of the endpoints, each of which answers
    response = daemon.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    endpoints = response.json()["endpoints"]
    assert set(endpoints) == {"/metrics", "/healthz", "/readyz", "/status"}
    for path in endpoints:
        assert daemon.get(path).status_code == 200, path


def test_metrics_time_requests_count_cycles_per_schedule_and_describe_the_build(
    running: tuple[HangardDaemon, Registry],
) -> None:
    daemon, source = running
    m = daemon.metrics()
    # one observation of the duration for every answer counted, per
    # (registry, method); the status code is no label of the histogram
    counted: dict[tuple[str, str], float] = {}
    for labels, value in m.series("hangard_registry_requests_total"):
        key = (labels["registry"], labels["method"])
        counted[key] = counted.get(key, 0) + value
    timed = {
        (labels["registry"], labels["method"]): value
        for labels, value in m.series("hangard_registry_request_duration_seconds_count")
    }
    assert timed == counted
    assert (source.host, "GET") in timed and (source.host, "HEAD") in timed
    for labels, total in m.series("hangard_registry_request_duration_seconds_sum"):
        assert 0 < total < CYCLE_TIMEOUT * timed[(labels["registry"], labels["method"])]
    inf = m.series("hangard_registry_request_duration_seconds_bucket", le="+Inf")
    assert {(lbl["registry"], lbl["method"]): v for lbl, v in inf} == timed

    cycles = "hangard_schedule_cycles_total"
    assert m.value(cycles, schedule=SCHEDULE, result="failure") == 1
    assert m.value(cycles, schedule=SCHEDULE, result="success") == 0
    ((build, one),) = m.series("hangard_build_info")
    assert one == 1
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", build["revision"]), build
    assert build["python_version"] == platform.python_version()  # the tests' venv runs it
    status = daemon.status()
    (start,) = [v for _, v in m.series("process_start_time_seconds")]
    assert abs(start - status["started_at"]) < 30
    assert (m.value("process_open_fds") or 0) > 0
    assert (m.value("process_resident_memory_bytes") or 0) > 0


def test_status_command_prints_items_and_schedules(
    running: tuple[HangardDaemon, Registry], hangard: Hangard
) -> None:
    """Text, ``-o json``, ``--failing``, and the address from
    ``HANGARD_METRICS_ADDRESS`` (a wildcard one is asked on loopback)."""
    daemon, source = running
    url = ["--url", daemon.url]
    text, full, only, only_text = hangard.many(
        ["status", *url],
        ["status", *url, "-o", "json"],
        ["status", *url, "-o", "json", "--failing"],
        ["status", *url, "--failing"],
    )
    by_env = hangard.with_env(HANGARD_METRICS_ADDRESS=f"0.0.0.0:{daemon.port}")("status")
    for run in (text, full, only, only_text, by_env):
        assert run.code == 0, run.err

    out = text.out
    assert f"at {daemon.url}: ready" in out
    assert "2 items: 1 failing, 0 drifted, 0 missing, 0 pending, 1 in sync" in out
    gone, good = f"{source.host}/app/gone:1", f"{source.host}/app/good:1"
    (failing_row,) = [line for line in out.splitlines() if line.startswith(f"failing  {gone}")]
    assert re.search(r"\bnot_found$", failing_row), failing_row
    (good_row,) = [line for line in out.splitlines() if line.startswith(f"in sync  {good}")]
    assert re.search(r"\(\d+s ago\)\s+0\s+-$", good_row), good_row
    # the failing item's last error, in full, below the table
    (error,) = [line for line in out.splitlines() if line.startswith(f"  {gone} → mirror: ")]
    assert "app/gone" in error.split(": ", 1)[1]
    # the schedule: its last cycle failed, the next one is in about an hour
    (schedule_row,) = [line for line in out.splitlines() if line.startswith(f"{SCHEDULE} ")]
    assert re.search(r"\(\d+s ago\)\s+failure\s", schedule_row), schedule_row
    assert re.search(r"\(in (59m|1h)\)$", schedule_row), schedule_row

    doc, failing = json.loads(full.out), json.loads(only.out)
    assert doc["items"] == daemon.status()["items"]
    assert doc["schedules"][0]["schedule"] == SCHEDULE
    assert [f"{i['image']}:{i['tag']}" for i in failing["items"]] == [gone]
    assert failing["schedules"] == doc["schedules"]
    assert gone in only_text.out and good not in only_text.out
    assert f"at http://127.0.0.1:{daemon.port}: ready" in by_env.out


def test_status_command_without_a_daemon_says_so_in_one_line(hangard: Hangard) -> None:
    port = free_port()  # nothing listens there
    runs = hangard.with_env(HANGARD_METRICS_ADDRESS=f"127.0.0.1:{port}").many(
        ["status"], ["status", "-o", "json"]
    )
    for run in runs:
        assert run.code == 1
        assert run.out == ""
        lines = run.err.splitlines()
        assert lines == [
            f"error: cannot reach http://127.0.0.1:{port}/status: connection refused",
            "  hint: is the daemon running? `systemctl status hangard`; otherwise pass"
            " --url or set HANGARD_METRICS_ADDRESS to its listen address",
        ], run.err
        assert "Traceback" not in run.err


def test_status_command_gives_up_on_a_daemon_that_does_not_answer(hangard: Hangard) -> None:
    """A listener that never accepts (a hung daemon): the deadline ends it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        started = time.monotonic()
        run = hangard("status", "--url", url, "--timeout", "1")
        took = time.monotonic() - started
    assert run.code == 1
    assert run.err.splitlines()[0] == f"error: no answer from {url}/status within 1s"
    assert "systemctl status hangard" in run.err and "Traceback" not in run.err
    assert took < 50  # the import of hangard dominates; a missing deadline would hang


def test_status_command_refuses_what_is_not_a_hangard_daemon(
    plain_registry: Registry, hangard: Hangard
) -> None:
    """A registry answers 404 on /status: that is named, not parsed."""
    run = hangard("status", "--url", plain_registry.url)
    assert run.code == 1
    assert run.err.splitlines()[0] == (
        f"error: {plain_registry.url}/status answered HTTP 404, not a hangard status"
    )
    assert "Traceback" not in run.err


# ------------------------------------------------------------- text rendering
def _item(name: str, **fields: Any) -> dict[str, Any]:
    base = {
        "image": f"r.example/{name}",
        "tag": "1",
        "target": "mirror",
        "in_sync": False,
        "drift": False,
        "missing": False,
        "last_success": None,
        "last_error": None,
        "last_error_reason": None,
        "consecutive_failures": 0,
    }
    return {**base, **fields}


def test_render_lists_every_state_worst_first() -> None:
    now = 1_800_000_000.0
    doc: dict[str, Any] = {
        "version": "9.9",
        "ready": True,
        "config": "/etc/hangard/hangard.yaml",
        "config_generation": 2,
        "last_reload_successful": False,
        "last_reload_errors": ["hangard.yaml:3:5: bad"],
        "schedules": [
            {
                "schedule": "15m",
                "running": True,
                "last_cycle_finished_at": now - 125,
                "last_cycle_result": "success",
                "last_cycle_duration_seconds": 3.25,
                "last_good_cycle": now - 125,
                "next_run": now + 775,
            }
        ],
        "items": [
            _item("ok", in_sync=True, last_success=now - 7200),
            _item("new"),
            _item("gone", missing=True),
            _item("moved", drift=True),
            _item(
                "broken",
                drift=True,
                last_error="HTTP 500 from r.example",
                last_error_reason="server_error",
                consecutive_failures=4,
            ),
        ],
    }
    assert [item_state(i) for i in doc["items"]] == [
        "in sync",
        "pending",
        "missing",
        "drifted",
        "failing",
    ]
    text = render_status(doc, url="http://127.0.0.1:9469", now=now)
    lines = text.splitlines()
    assert lines[0].startswith("hangard 9.9 at http://127.0.0.1:9469: ready;")
    assert lines[1] == "last config reload REJECTED: hangard.yaml:3:5: bad"
    (row,) = [line for line in lines if line.startswith("15m ")]
    assert "(2m ago)" in row and "success" in row and "3.2s" in row
    assert row.endswith("running now")
    table = [
        line
        for line in lines
        if line.split(" ")[0] in {"failing", "drifted", "missing", "pending", "in"}
    ]
    assert [line.split("  ")[0] for line in table] == list(STATES)
    assert "server_error" in table[0] and " 4 " in table[0]
    assert "(2h ago)" in table[-1]
    assert lines[-1] == "  r.example/broken:1 → mirror: HTTP 500 from r.example"
    assert "5 items: 1 failing, 1 drifted, 1 missing, 1 pending, 1 in sync" in lines
