"""Isolated docker / containers credential files for tests (see ``tmp_authfile``),
and the environment that makes a process find only them (:func:`isolated_env`)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# inherited variables that would let a process see the developer's setup
_SCRUBBED_PREFIXES = ("HANGARD_", "DOCKER_", "REGISTRY_", "XDG_", "CONTAINERS_")
_SCRUBBED = {"HOME", "NOTIFY_SOCKET", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}


@dataclass
class AuthFiles:
    """Paths of the temporary credential files the ``tmp_authfile`` fixture points env at."""

    root: Path
    docker_config_dir: Path
    docker_config: Path
    registry_auth_file: Path
    xdg_runtime_dir: Path

    @classmethod
    def create(cls, root: Path) -> AuthFiles:
        """Create empty ``{"auths": {}}`` files under ``root``."""
        docker_dir = root / "docker"
        run = root / "run"
        for d in (docker_dir, run, run / "containers"):
            d.mkdir(parents=True, exist_ok=True)
        run.chmod(0o700)
        files = cls(
            root=root,
            docker_config_dir=docker_dir,
            docker_config=docker_dir / "config.json",
            registry_auth_file=run / "containers" / "auth.json",
            xdg_runtime_dir=run,
        )
        for f in (files.docker_config, files.registry_auth_file):
            f.write_text(json.dumps({"auths": {}}))
        return files

    def environ(self) -> dict[str, str]:
        """``HOME``, ``DOCKER_CONFIG``, ``REGISTRY_AUTH_FILE``, ``XDG_RUNTIME_DIR``
        and ``XDG_CONFIG_HOME`` pointing at these files (``HOME`` is ``root/home``)."""
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        return {
            "HOME": str(home),
            "DOCKER_CONFIG": str(self.docker_config_dir),
            "REGISTRY_AUTH_FILE": str(self.registry_auth_file),
            "XDG_RUNTIME_DIR": str(self.xdg_runtime_dir),
            "XDG_CONFIG_HOME": str(home / ".config"),
        }

    def add(self, host: str, username: str, password: str) -> None:
        """Add ``host`` credentials (``auth`` = base64 user:pass) to both files."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        for f in (self.docker_config, self.registry_auth_file):
            data: dict[str, Any] = json.loads(f.read_text())
            data.setdefault("auths", {})[host] = {"auth": token}
            f.write_text(json.dumps(data, indent=2))


def isolated_env(files: AuthFiles) -> dict[str, str]:
    """``os.environ`` without credentials, proxies or hangard settings, with
    every credential search pointed at ``files`` (see :meth:`AuthFiles.environ`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k.upper() not in _SCRUBBED
    }
    env.update(files.environ(), NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    return env
