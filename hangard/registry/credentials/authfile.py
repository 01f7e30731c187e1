"""One Docker/Podman auth file (``config.json``, ``auth.json``): which
helper serves a registry, its ``auths`` entry, and the ``credsStore``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangard.errors import AuthFileError
from hangard.registry.credentials.values import Credentials, find_key

__all__ = ["AuthFile", "is_helper_name", "load_auth_file"]


def is_helper_name(name: object) -> bool:
    """A bare program suffix: never a path, so only ``PATH`` is searched."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/\\\0")


@dataclass(frozen=True)
class AuthFile:
    path: Path
    doc: Mapping[str, Any]

    def _table(self, name: str) -> Mapping[str, Any]:
        table = self.doc.get(name)
        if table is None:
            return {}
        if not isinstance(table, Mapping):
            raise AuthFileError(f"{self.path}: {name!r} must be a JSON object")
        return table

    def helper_for(self, registry: str) -> str | None:
        helpers = self._table("credHelpers")
        key = find_key(helpers, registry)
        if key is None:
            return None
        name = helpers[key]
        if not is_helper_name(name):
            raise AuthFileError(f"{self.path}: credHelpers[{key!r}] must be a helper name")
        return str(name)

    def store(self) -> str | None:
        name = self.doc.get("credsStore")
        if name in (None, ""):
            return None
        if not is_helper_name(name):
            raise AuthFileError(f"{self.path}: 'credsStore' must be a helper name")
        return str(name)

    def auth_entry(self, registry: str) -> Credentials | None:
        auths = self._table("auths")
        key = find_key(auths, registry)
        if key is None:
            return None
        entry = auths[key]
        if not isinstance(entry, Mapping):
            raise AuthFileError(f"{self.path}: auths[{key!r}] must be a JSON object")
        username = _opt_str(self.path, key, entry, "username")
        password = _opt_str(self.path, key, entry, "password")
        encoded = _opt_str(self.path, key, entry, "auth")
        if encoded:
            username, password = _decode_auth(self.path, key, encoded)
        creds = Credentials(
            username=username or None,
            password=password or None,
            identity_token=_opt_str(self.path, key, entry, "identitytoken") or None,
        )
        # An empty entry is a placeholder Docker writes when credsStore holds the secret.
        return None if creds.is_empty else creds


def _opt_str(path: Path, key: str, entry: Mapping[str, Any], field: str) -> str | None:
    value = entry.get(field)
    if value is None or isinstance(value, str):
        return value
    raise AuthFileError(f"{path}: auths[{key!r}].{field} must be a string")


def _decode_auth(path: Path, key: str, encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFileError(f"{path}: auths[{key!r}].auth is not valid base64") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthFileError(f"{path}: auths[{key!r}].auth does not decode to user:password")
    return username, password


def load_auth_file(path: Path) -> AuthFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthFileError(f"cannot read auth file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AuthFileError(f"auth file {path} is not UTF-8 text") from None
    if not text.strip():
        return AuthFile(path, {})
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AuthFileError(f"auth file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AuthFileError(f"auth file {path} must hold a JSON object")
    return AuthFile(path, doc)
