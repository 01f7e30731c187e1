"""Hints: remedies whose words depend on where they are read.

An error says *what* would cure it (trust the CA, speak plain HTTP, give
credentials) and for which registry; the reader's context says *how*:

* :data:`CONFIG_HINTS`: the keys under ``registries: HOST:`` in the config
  (``sync``, ``plan``, ``validate``, ``run``, and every log line);
* :class:`CliHints`: the flags of one command, per registry, so that a copy
  names ``--src-…`` or ``--dest-…`` by the side that failed, and
  ``inspect`` its own ``--tls-verify=false``.

Light, and below :mod:`hangard.errors`: it imports nothing of hangard's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

__all__ = [
    "CONFIG_HINTS",
    "HARBOR_PROJECT",
    "CliHints",
    "ConfigHints",
    "Hint",
    "HintWriter",
    "Hinted",
]


class Hint(StrEnum):
    """A remedy whose words depend on where the user can act: the flags of
    the command that failed, or the keys of the config's ``registries: HOST:``
    (see :mod:`hangard.hints`). The registry is the error's
    ``context.registry``."""

    PLAIN_HTTP = "plain_http"
    """The registry answered HTTPS with plain HTTP."""
    UNTRUSTED_CA = "untrusted_ca"
    """TLS verification failed: the registry's CA is not trusted."""
    CREDENTIALS = "credentials"
    """Pulling was refused: credentials are missing or wrong."""
    PUSH_CREDENTIALS = "push_credentials"
    """Pushing was refused: credentials cannot push, or the project is missing."""

    def config_text(self, registry: str | None) -> str:
        """This hint in the words of the desired-state file (the daemon's
        and the log's); :mod:`hangard.hints` has the command line's."""
        at = f"registries: {registry}:" if registry else "registries: HOST:"
        return _CONFIG_HINTS[self].format(at=at)


HARBOR_PROJECT = "and that the target project exists (Harbor needs the project created first)"
_CONFIG_HINTS = {
    Hint.PLAIN_HTTP: "the registry speaks plain HTTP: set {at} http: true in the config "
    "(tls_verify: false also allows plain HTTP)",
    Hint.UNTRUSTED_CA: "trust the registry's CA with {at} ca_file: PATH in the config, "
    "or turn verification off with {at} tls_verify: false",
    Hint.CREDENTIALS: "set {at} credentials in the config (username with password_env or "
    "password_file, or docker_config: true for docker login's auth files)",
    Hint.PUSH_CREDENTIALS: f"check that {{at}} credentials in the config can push, {HARBOR_PROJECT}",
}


class _Where(Protocol):
    @property
    def registry(self) -> str | None: ...


class Hinted(Protocol):
    """What a hint is rendered for (a :class:`~hangard.errors.HangardError`)."""

    @property
    def hint(self) -> Hint | None: ...
    @property
    def remedy(self) -> str | None: ...
    @property
    def context(self) -> _Where: ...


_HARBOR = HARBOR_PROJECT


class HintWriter:
    """Writes hints for one context; :meth:`render` is what to show for an error."""

    def text(self, hint: Hint, registry: str | None) -> str:
        raise NotImplementedError

    def render(self, error: Hinted) -> str | None:
        """The error's hint in this context's words, else its text remedy."""
        if error.hint is None:
            return error.remedy
        return self.text(error.hint, error.context.registry)


class ConfigHints(HintWriter):
    """Hints that name the desired-state file's ``registries: HOST:`` keys
    (the words of :meth:`Hint.config_text`, an error's default ``remedy``)."""

    def text(self, hint: Hint, registry: str | None) -> str:
        return hint.config_text(registry)


CONFIG_HINTS = ConfigHints()


@dataclass(frozen=True)
class CliHints(HintWriter):
    """Hints that name command-line flags: ``prefixes`` maps each registry
    to its flags' prefix (``--src-``, ``--dest-``); other registries get
    ``default``."""

    prefixes: Mapping[str, str] = field(default_factory=dict)
    default: str = "--"

    def text(self, hint: Hint, registry: str | None) -> str:
        p = self.prefixes.get(registry or "", self.default)
        if hint is Hint.PLAIN_HTTP:
            return f"the registry speaks plain HTTP: add {p}plain-http (or {p}tls-verify=false)"
        if hint is Hint.UNTRUSTED_CA:
            return (
                f"trust the registry's CA with {p}ca-file=PATH, "
                f"or turn verification off with {p}tls-verify=false"
            )
        if hint is Hint.CREDENTIALS:
            login = f"docker login {registry}" if registry else "docker login"
            return f"give credentials with {p}creds=USER:PASS, --authfile FILE, or {login}"
        return f"check that {p}creds=USER:PASS can push, {_HARBOR}"
