"""Credential helpers: the ``docker-credential-NAME`` programs an auth file
names, run as ``get`` with the server URL on stdin. They are found on, and
run with, the process's own ``PATH`` and environment. Their replies and
failures never reach a message: a reply may hold the secret."""

from __future__ import annotations

import json
import shutil
import subprocess

from hangard.core.reference import DEFAULT_REGISTRY
from hangard.errors import CredentialHelperError
from hangard.registry.credentials.values import DOCKER_HUB_AUTH_KEY, Credentials

__all__ = ["DEFAULT_HELPER_TIMEOUT", "HELPER_PREFIX", "TOKEN_USERNAME", "run_helper", "server_url"]

#: Seconds a credential helper may take before it counts as failed.
DEFAULT_HELPER_TIMEOUT = 30.0
#: The username a helper returns when ``Secret`` is an identity token.
TOKEN_USERNAME = "<token>"
HELPER_PREFIX = "docker-credential-"

_NOT_FOUND = "credentials not found"


def server_url(registry: str) -> str:
    """What a helper is asked for: Docker Hub's legacy URL, else the host."""
    return DOCKER_HUB_AUTH_KEY if registry == DEFAULT_REGISTRY else registry


def run_helper(name: str, host: str, timeout: float) -> Credentials | None:
    """Ask ``docker-credential-NAME get`` for ``host``; ``None`` when it
    knows none. Killed after ``timeout`` seconds."""
    program = HELPER_PREFIX + name
    path = shutil.which(program)
    if path is None:
        raise CredentialHelperError(
            f"credential helper {program} for {host} is not on PATH",
            remedy="install it or remove it from credHelpers/credsStore in the auth file",
        )
    try:
        done = subprocess.run(
            [path, "get"],
            input=server_url(host).encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialHelperError(
            f"credential helper {program} for {host} timed out after {timeout:g}s"
        ) from None
    except OSError as exc:
        raise CredentialHelperError(
            f"cannot run credential helper {program} for {host}: {exc.strerror or exc}"
        ) from None
    output = (done.stdout + b"\n" + done.stderr).decode(errors="replace").strip()
    if done.returncode != 0:
        if _NOT_FOUND in output.lower():
            return None
        # On failure the output is an error message, not a secret.
        message = " ".join(output.split())[:200] or "no output"
        raise CredentialHelperError(
            f"credential helper {program} for {host} failed (exit {done.returncode}): {message}"
        )
    return _parse_helper_reply(program, host, done.stdout)


def _parse_helper_reply(program: str, host: str, stdout: bytes) -> Credentials | None:
    try:
        reply = json.loads(stdout)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        # Never echo the reply: it may hold the secret.
        raise CredentialHelperError(
            f"credential helper {program} for {host} gave a reply that is not a JSON object"
        )
    username = reply.get("Username")
    secret = reply.get("Secret")
    if not isinstance(username, str | None) or not isinstance(secret, str | None):
        raise CredentialHelperError(
            f"credential helper {program} for {host} gave non-string Username/Secret"
        )
    if not secret:
        return None
    if username == TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username or None, password=secret)
