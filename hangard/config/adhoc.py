"""A desired state made on the command line, without a YAML file:
``hangard sync --list FILE --to REGISTRY[/PREFIX]`` (Hangar's ``mirror -f``).

The list file is read and checked as a ``list:`` entry's would be (every bad
line as ``FILE:LINE:COL``); the result is a :class:`LoadedConfig` with one
target ``to`` and one list entry, so the sync cycle runs it unchanged.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import ValidationError

from hangard.config.hangarlist import parse_hangar_list
from hangard.config.loader import LoadedConfig
from hangard.core.crosscheck import check_references
from hangard.core.desired import DesiredState, Location, RegistrySettings, Target
from hangard.core.reference import parse_reference
from hangard.errors import ConfigError

__all__ = ["ADHOC_TARGET", "adhoc_config"]

#: The one target's name, as plans and failed lists show it.
ADHOC_TARGET = "to"


def adhoc_config(
    list_file: Path,
    to: Target,
    *,
    platforms: tuple[str, ...] = (),
    sources: RegistrySettings | None = None,
    destination: RegistrySettings | None = None,
) -> LoadedConfig:
    """The state "copy every line of ``list_file`` to ``to``": ``sources``
    are the settings of every source registry, ``destination`` those of
    ``to``'s (it wins when one host is both). Raises
    :class:`~hangard.errors.ConfigError` with every problem."""
    display = os.fspath(list_file)
    path = Path(os.path.abspath(display))
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read list file {display}: {exc}") from None
    parsed = parse_hangar_list(text, display)
    if parsed.problems:
        raise ConfigError(
            f"{display}: {len(parsed.problems)} problem(s)",
            problems=[str(p) for p in parsed.problems],
        )
    registries = {parse_reference(line.source).registry: sources for line in parsed.lines}
    assert to.registry is not None
    registries[to.registry] = destination
    try:
        state = DesiredState.model_validate(
            {
                "targets": {ADHOC_TARGET: to},
                "defaults": {"targets": [ADHOC_TARGET], "platforms": list(platforms)},
                "registries": {h: s for h, s in registries.items() if s is not None},
                "images": [{"list": str(path), "lines": tuple(parsed.lines)}],
            }
        )
    except ValidationError as exc:
        problems = [f"{display}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError(f"{display}: invalid", problems=problems) from None

    def place(loc: Location) -> str:
        return f"{display}:{loc[-1]}" if len(loc) == 4 else display

    found = check_references(state)
    if found:
        problems = [f"{place(f.where)}: {f.text(place)}" for f in found]
        raise ConfigError(f"{display}: {len(found)} problem(s)", problems=problems)
    digest = hashlib.sha256(os.fsencode(path) + b"\0" + len(raw).to_bytes(8, "big") + raw)
    return LoadedConfig(path, state, [path], f"sha256:{digest.hexdigest()}")
