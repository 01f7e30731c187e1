"""Isolated docker / containers credential files for tests (see ``tmp_authfile``)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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

    def add(self, host: str, username: str, password: str) -> None:
        """Add ``host`` credentials (``auth`` = base64 user:pass) to both files."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        for f in (self.docker_config, self.registry_auth_file):
            data: dict[str, Any] = json.loads(f.read_text())
            data.setdefault("auths", {})[host] = {"auth": token}
            f.write_text(json.dumps(data, indent=2))
