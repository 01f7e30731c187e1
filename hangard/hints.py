"""A :class:`~hangard.errors.Hint` in the words of where it is read.

An error says *what* would cure it (trust the CA, speak plain HTTP, give
credentials) and for which registry; the reader's context says *how*:

* :data:`CONFIG_HINTS`: the keys under ``registries: HOST:`` in the config
  (``sync``, ``plan``, ``validate``, ``run``, and every log line);
* :class:`CliHints`: the flags of one command, per registry, so that a copy
  names ``--src-…`` or ``--dest-…`` by the side that failed, and
  ``inspect`` its own ``--tls-verify=false``.

Light: imports nothing but :mod:`hangard.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hangard.errors import HARBOR_PROJECT, HangardError, Hint

__all__ = ["CONFIG_HINTS", "CliHints", "ConfigHints", "HintWriter"]

_HARBOR = HARBOR_PROJECT


class HintWriter:
    """Writes hints for one context; :meth:`render` is what to show for an error."""

    def text(self, hint: Hint, registry: str | None) -> str:
        raise NotImplementedError

    def render(self, error: HangardError) -> str | None:
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
