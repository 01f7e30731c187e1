"""Options several commands share the way skopeo users know them: retries,
``-q``, per-side auth files. Typer only, like :mod:`hangard.cli._common`.

Numbers are checked by callbacks rather than typer's ``min``/``max``, which
would print ``<int range>`` and ``[x>=0]`` in ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NamedTuple, TypeVar

import typer

__all__ = [
    "DestAuthFile",
    "Quiet",
    "Retries",
    "RetryDelay",
    "RetryTimes",
    "SrcAuthFile",
    "at_least",
    "quiet_logging",
]

N = TypeVar("N", int, float)


def at_least(low: float, *, high: float | None = None) -> Callable[[N | None], N | None]:
    """A typer callback refusing values below ``low`` (or above ``high``)."""

    def check(value: N | None) -> N | None:
        if value is not None and (value < low or (high is not None and value > high)):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise typer.BadParameter(f"{value:g} is not {bounds}")
        return value

    return check


RetryTimes = Annotated[
    int | None,
    typer.Option(
        "--retry-times",
        metavar="N",
        callback=at_least(0, high=100),
        help="retries of a failed request (default: the config's retry_times, else 4); "
        "applies to every registry",
    ),
]
RetryDelay = Annotated[
    float | None,
    typer.Option(
        "--retry-delay",
        metavar="SECONDS",
        callback=at_least(0.001, high=600),
        help="backoff base: the first retry waits up to this, each next one up to twice "
        "as long, at most 30 s (default: the config's retry_delay, else 0.5); "
        "a Retry-After from the server wins",
    ),
]


class Retries(NamedTuple):
    """``--retry-times`` and ``--retry-delay``; ``None``: not given."""

    times: int | None = None
    delay: float | None = None


Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="print only warnings and errors: no progress, no result, no info logs"
    ),
]


def _auth_file(flag: str, side: str) -> object:
    return typer.Option(
        flag,
        metavar="FILE",
        exists=True,
        dir_okay=False,
        help=f"auth file for the {side} registry only (docker config.json or containers auth.json)",
    )


SrcAuthFile = Annotated[Path | None, _auth_file("--src-authfile", "source")]
DestAuthFile = Annotated[Path | None, _auth_file("--dest-authfile", "destination")]


def quiet_logging(ctx: typer.Context) -> None:
    """Raise the log level to ``warning`` for ``-q``, in the format the
    root options chose."""
    from hangard.log import configure_logging

    root = ctx.find_root().params
    level = str(root.get("log_level") or "info").lower()
    if level in ("debug", "info"):
        level = "warning"
    configure_logging(level, str(root.get("log_format") or "auto").lower())  # type: ignore[arg-type]
