"""Process settings: where things are and how the daemon runs.

Each setting comes from, highest first: a command-line flag (passed to
:func:`load_settings` as an override), the environment variable
``HANGARD_<NAME>`` (``HANGARD_STATE_DIR``), then the default. The desired
state itself (what to mirror) is the YAML file named by ``config``. Logging
(``HANGARD_LOG_LEVEL``, ``HANGARD_LOG_FORMAT``) is the command line's
business: :mod:`hangard.cli` reads it before any command runs.

=================  ==========================  ==================================
setting            default                     meaning
=================  ==========================  ==================================
config             /etc/hangard/hangard.yaml   the desired-state file
state_dir          /var/lib/hangard            where the daemon keeps its state
metrics_address    127.0.0.1:9469              HOST:PORT for /metrics and health
concurrency        12                          copies in flight, all registries
failed_file        hangard-failed.txt          failed images, one per line;
                                               relative to state_dir
watch_config       true                        reload when a config or list
                                               file changes
shutdown_grace     30                          seconds to let copies finish on
                                               SIGTERM
cycle_timeout      21600                       seconds one daemon cycle may take
                                               before it is cancelled (and
                                               counted as failed; the copies
                                               it cuts short fail with reason
                                               timeout)
policy             (none)                      a containers policy.json, in place
                                               of the config's ``policy:``
insecure_policy    false                       check no signatures at all
shard              (none)                      I/N: act only on the items shard
                                               I of N owns (scale-out)
shards             (none)                      N, the shard taken from the
                                               hostname's StatefulSet ordinal
                                               (hangard-2 is 2); $HOSTNAME, else
                                               the system's hostname
prune              true                        prune the targets whose config
                                               says ``prune: true`` (false:
                                               ``--no-prune``, copy only)
=================  ==========================  ==================================
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hangard.core.concurrency import CONCURRENCY
from hangard.core.shard import MAX_SHARDS, Shard, parse_shard, shard_from_hostname
from hangard.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "HANGARD_"


class Settings(BaseSettings):
    """See the module docstring for each setting."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    config: Path = Path("/etc/hangard/hangard.yaml")
    state_dir: Path = Path("/var/lib/hangard")
    metrics_address: str = "127.0.0.1:9469"
    concurrency: int = Field(default=CONCURRENCY, ge=1, le=256)
    failed_file: Path = Path("hangard-failed.txt")
    watch_config: bool = True
    shutdown_grace: float = Field(default=30.0, ge=0)
    cycle_timeout: float = Field(default=6 * 3600.0, gt=0)
    policy: Path | None = None
    insecure_policy: bool = False
    shards: int | None = Field(default=None, ge=1, le=MAX_SHARDS)
    shard: Shard | None = None

    @field_validator("shard", mode="before")
    @classmethod
    def _check_shard(cls, value: object, info: ValidationInfo) -> Shard | None:
        count = info.data.get("shards")
        shard: Shard | None
        if isinstance(value, str):
            shard = parse_shard(value)
        elif value is None and count is not None:
            hostname = os.environ.get("HOSTNAME") or socket.gethostname()
            shard = shard_from_hostname(hostname, count)
        elif value is None or isinstance(value, Shard):
            shard = value
        else:
            raise ValueError(f"{value!r} is not a shard: write I/N")
        if shard is not None and count is not None and shard.count != count:
            raise ValueError(f"shard {shard} is not one of HANGARD_SHARDS={count}")
        return shard

    prune: bool = True

    @field_validator("metrics_address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        _split_address(value)
        return value

    @property
    def metrics_host_port(self) -> tuple[str, int]:
        """``metrics_address`` split; an IPv6 host loses its brackets."""
        return _split_address(self.metrics_address)

    @property
    def failed_path(self) -> Path:
        """``failed_file``, relative to ``state_dir`` unless absolute."""
        return (
            self.failed_file
            if self.failed_file.is_absolute()
            else self.state_dir / self.failed_file
        )


def _split_address(value: str) -> tuple[str, int]:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (like 127.0.0.1:9469 or [::1]:9469)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{value!r}: write an IPv6 host in brackets, like [::1]:9469")
    return host, int(port)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (command-line flags)
    on top; ``None`` overrides are ignored, so unset flags can be passed as is.

    Raises :class:`~hangard.errors.ConfigError`, one problem per bad setting,
    naming its environment variable (with its value when the value came from
    there: ``setting concurrency (HANGARD_CONCURRENCY=0): ...``).
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(Settings.model_fields))
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(unknown)}")
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "?"
            msg = error["msg"].removeprefix("Value error, ")
            variable = f"{ENV_PREFIX}{name.upper()}"
            if name not in given and isinstance(error.get("input"), str):
                variable += f"={error['input']}"  # from the environment: show what it holds
            problems.append(f"setting {name} ({variable}): {msg}")
        raise ConfigError(f"invalid settings: {'; '.join(problems)}", problems=problems) from None
