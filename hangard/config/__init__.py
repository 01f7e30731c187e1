"""The desired-state file on disk: reading it, validating it with every
problem at FILE:LINE:COL, and turning it into registry-client settings.
No network here; the schema itself is pure (:mod:`hangard.core.desired`).

* :mod:`~hangard.config.positions`: positions, problems, YAML with positions;
* :mod:`~hangard.config.hangarlist`: Hangar image list files (pure);
* :mod:`~hangard.config.loader`: :func:`check_config` (every problem) and :func:`load_config` (raises);
* :mod:`~hangard.config.registries`: client options and credentials.

The schema itself is :mod:`hangard.core.desired`.
"""

from hangard.config.hangarlist import ParsedList, parse_hangar_list
from hangard.config.loader import ConfigCheck, LoadedConfig, check_config, load_config
from hangard.config.positions import Position, Problem
from hangard.config.registries import (
    client_options,
    credential_store,
    ratelimit_floors,
    registry_hosts,
)

__all__ = [
    "ConfigCheck",
    "LoadedConfig",
    "ParsedList",
    "Position",
    "Problem",
    "check_config",
    "client_options",
    "credential_store",
    "load_config",
    "parse_hangar_list",
    "ratelimit_floors",
    "registry_hosts",
]
