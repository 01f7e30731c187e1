"""Process settings (hangard.settings): defaults, HANGARD_* variables, overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hangard.errors import ConfigError
from hangard.settings import Settings, load_settings
from tests.helpers_cli import Hangard


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HANGARD_* variable from the outside leaks into a test."""
    for name in list(os.environ):
        if name.startswith("HANGARD_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings == Settings(
        config=Path("/etc/hangard/hangard.yaml"),
        state_dir=Path("/var/lib/hangard"),
        metrics_address="127.0.0.1:9469",
        concurrency=12,
        failed_file=Path("hangard-failed.txt"),
        watch_config=True,
        shutdown_grace=30.0,
    )
    assert settings.failed_path == Path("/var/lib/hangard/hangard-failed.txt")
    assert settings.metrics_host_port == ("127.0.0.1", 9469)


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HANGARD_CONFIG": "/srv/hangard.yaml",
        "HANGARD_STATE_DIR": "/srv/state",
        "HANGARD_LOG_FORMAT": "JSON",  # the command line's, not a setting
        "HANGARD_METRICS_ADDRESS": "[::1]:9000",
        "HANGARD_CONCURRENCY": "3",
        "HANGARD_FAILED_FILE": "/tmp/failed.txt",
        "HANGARD_WATCH_CONFIG": "false",
        "HANGARD_SHUTDOWN_GRACE": "2.5",
        "HANGARD_SOMETHING_ELSE": "ignored",
        "CONCURRENCY": "99",  # no prefix: not ours
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.config == Path("/srv/hangard.yaml")
    assert settings.state_dir == Path("/srv/state")
    assert settings.metrics_host_port == ("::1", 9000)
    assert settings.concurrency == 3
    assert settings.failed_path == Path("/tmp/failed.txt")  # absolute: not under state_dir
    assert settings.watch_config is False
    assert settings.shutdown_grace == 2.5


def test_overrides_beat_environment_and_none_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGARD_CONCURRENCY", "3")
    monkeypatch.setenv("HANGARD_STATE_DIR", "/srv/state")
    settings = load_settings(concurrency=5, state_dir=None, config=Path("x.yaml"))
    assert settings.concurrency == 5
    assert settings.state_dir == Path("/srv/state")
    assert settings.config == Path("x.yaml")


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGARD_CONCURRENCY", "")
    assert load_settings().concurrency == 12


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (
            "HANGARD_CONCURRENCY",
            "0",
            "setting concurrency (HANGARD_CONCURRENCY=0): Input should be greater than or equal to 1",
        ),
        (
            "HANGARD_CONCURRENCY",
            "many",
            "setting concurrency (HANGARD_CONCURRENCY=many): "
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "HANGARD_METRICS_ADDRESS",
            "9469",
            "setting metrics_address (HANGARD_METRICS_ADDRESS=9469): "
            "'9469' is not HOST:PORT (like 127.0.0.1:9469 or [::1]:9469)",
        ),
        (
            "HANGARD_METRICS_ADDRESS",
            "::1:9469",
            "setting metrics_address "
            "(HANGARD_METRICS_ADDRESS=::1:9469): '::1:9469': write an IPv6 host in brackets, like [::1]:9469",
        ),
        (
            "HANGARD_SHUTDOWN_GRACE",
            "-1",
            "setting shutdown_grace (HANGARD_SHUTDOWN_GRACE=-1): "
            "Input should be greater than or equal to 0",
        ),
        (
            "HANGARD_WATCH_CONFIG",
            "perhaps",
            "setting watch_config (HANGARD_WATCH_CONFIG=perhaps): "
            "Input should be a valid boolean, unable to interpret input",
        ),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [problem]
    assert info.value.exit_code == 2


def test_invalid_override_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(concurrency=0, metrics_address="loud")
    assert [p.split(":")[0] for p in info.value.problems] == [
        "setting metrics_address (HANGARD_METRICS_ADDRESS)",
        "setting concurrency (HANGARD_CONCURRENCY)",
    ]


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown settings: colour"):
        load_settings(colour="blue")


COMMANDS = [
    ["validate", "hangard.yaml"],
    ["plan", "hangard.yaml"],
    ["sync", "--once", "hangard.yaml"],
    ["run", "--config", "hangard.yaml"],
]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "HANGARD_CONCURRENCY",
            "0",
            "error: setting concurrency (HANGARD_CONCURRENCY=0): "
            "Input should be greater than or equal to 1",
        ),
        (
            "HANGARD_LOG_LEVEL",
            "bogus",
            "error: HANGARD_LOG_LEVEL=bogus: expected one of debug, info, warning, error",
        ),
    ],
)
def test_every_command_names_a_bad_setting_in_one_line(
    hangard: Hangard, variable: str, value: str, line: str
) -> None:
    """Issue 9 item 17: not just "invalid settings", and no usage banner."""
    runs = hangard.with_env(**{variable: value}).many(*COMMANDS)
    for command, run in zip(COMMANDS, runs, strict=True):
        assert (run.code, run.err.splitlines()) == (2, [line]), command


def test_a_bad_log_format_flag_names_the_flag(hangard: Hangard) -> None:
    run = hangard("--log-format", "xml", "validate", "hangard.yaml")
    assert (run.code, run.err.splitlines()) == (
        2,
        ["error: --log-format xml: expected one of auto, json, console"],
    )
