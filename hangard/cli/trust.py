"""The signature policy a one-shot command (``copy``, ``save``, ``load``)
enforces: ``--policy FILE`` (or ``$HANGARD_POLICY``), none with
``--insecure-policy``; with ``--config``, the file's ``policy:`` and
``verify:`` (the loaded config's trust) instead."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hangard.cli._common import ExitCode, load_config, load_settings

if TYPE_CHECKING:
    from hangard.config.loader import LoadedConfig
    from hangard.core.policy import Trust

__all__ = ["command_trust", "option_trust"]


def option_trust(policy: Path | None, insecure_policy: bool | None) -> Trust:
    """The policy ``--policy`` (or ``$HANGARD_POLICY``) names; none with
    ``--insecure-policy``. Exit 2 when the file cannot be used."""
    from hangard.config.trustfiles import load_policy_option
    from hangard.core.policy import Trust
    from hangard.errors import ConfigError

    settings = load_settings(policy=policy, insecure_policy=insecure_policy or None)
    if settings.policy is None or settings.insecure_policy:
        return Trust(insecure=True)
    try:
        return load_policy_option(settings.policy)
    except ConfigError as exc:
        typer.echo(f"error: --policy: {exc.message}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None


def command_trust(
    policy: Path | None, insecure_policy: bool | None, config: Path | None
) -> tuple[Trust, LoadedConfig | None]:
    """The trust of a command that may take ``--config FILE``, and the
    config loaded with the policy options applied (exit 2 when invalid)."""
    if config is None:
        return option_trust(policy, insecure_policy), None
    settings = load_settings(policy=policy, insecure_policy=insecure_policy or None)
    loaded = load_config(config, settings)
    return loaded.state.trust, loaded
