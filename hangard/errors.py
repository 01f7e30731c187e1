"""The hangard exception hierarchy.

One root, with "the input is wrong", "the network failed" and "the registry said
no" as separate branches::

    HangardError
    ├── InputError                      bad input from the user (exit code 2)
    │   ├── InvalidReferenceError       an image reference that does not parse
    │   └── ConfigError                 a desired-state or settings problem
    └── OperationError                  a copy or lookup failed (exit code 1)
        ├── RegistryError               context: image, registry, method, url, status, code
        │   ├── TransportError          no usable HTTP answer (connect, TLS, timeout)
        │   └── ResponseError           the registry answered with an error status
        │       ├── NotFoundError       404 / MANIFEST_UNKNOWN / BLOB_UNKNOWN / NAME_UNKNOWN
        │       ├── AuthError           401 / 403 / DENIED / UNAUTHORIZED
        │       ├── RateLimitedError    429 / TOOMANYREQUESTS
        │       └── ServerError         5xx
        ├── DigestMismatchError         content does not hash to its digest
        ├── InvalidManifestError        a manifest document that is not well formed
        └── UnsupportedMediaTypeError   a manifest type hangard cannot copy

Programmer mistakes (``TypeError``, ``ValueError`` from our own code) stay
outside the root so that ``except HangardError`` never hides a bug.

Each error carries a ``reason``: the bounded label used in metrics
(``not_found``, ``unauthorized``, ``rate_limited``, ``timeout``, ``network``,
``server_error``, ``digest_mismatch``, ``unsupported_media_type``, ``other``),
and a ``remedy`` when one is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "DigestMismatchError",
    "ErrorContext",
    "HangardError",
    "InputError",
    "InvalidManifestError",
    "InvalidReferenceError",
    "NotFoundError",
    "OperationError",
    "RateLimitedError",
    "RegistryError",
    "ResponseError",
    "ServerError",
    "TransportError",
    "UnsupportedMediaTypeError",
]


class HangardError(Exception):
    """Root of every error hangard raises on purpose."""

    reason: str = "other"
    exit_code: int = 1

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        text = self.message
        if self.remedy:
            text += f" (hint: {self.remedy})"
        return text


class InputError(HangardError):
    """The user gave us something we cannot use."""

    exit_code = 2


class InvalidReferenceError(InputError):
    """An image reference that does not parse."""


class ConfigError(InputError):
    """A desired-state file or setting is invalid.

    ``problems`` holds every error found, each already formatted as
    ``FILE:LINE:COL: message`` where a position is known.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class OperationError(HangardError):
    """A copy, lookup or push did not succeed."""


@dataclass(frozen=True)
class ErrorContext:
    """Where a registry error happened."""

    image: str | None = None
    registry: str | None = None
    method: str | None = None
    url: str | None = None
    status: int | None = None
    code: str | None = None
    detail: str | None = None

    def describe(self) -> str:
        parts = []
        if self.image:
            parts.append(f"image {self.image}")
        if self.registry:
            parts.append(f"registry {self.registry}")
        if self.method and self.url:
            parts.append(f"{self.method} {self.url}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        return ", ".join(parts)


class RegistryError(OperationError):
    """A registry operation failed. ``context`` says where."""

    def __init__(
        self,
        message: str,
        context: ErrorContext | None = None,
        *,
        remedy: str | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.context = context or ErrorContext()

    def __str__(self) -> str:
        text = self.message
        where = self.context.describe()
        if where:
            text += f" [{where}]"
        if self.remedy:
            text += f" (hint: {self.remedy})"
        return text

    def with_image(self, image: str) -> RegistryError:
        """Attach the image being worked on, keeping everything else."""
        if self.context.image:
            return self
        ctx = ErrorContext(**{**self.context.__dict__, "image": image})
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.context = ctx
        clone.args = self.args
        clone.__cause__ = self.__cause__
        return clone


class TransportError(RegistryError):
    """No usable HTTP answer: connection refused, TLS failure, timeout."""

    reason = "network"

    def __init__(
        self,
        message: str,
        context: ErrorContext | None = None,
        *,
        remedy: str | None = None,
        timeout: bool = False,
    ) -> None:
        super().__init__(message, context, remedy=remedy)
        if timeout:
            self.reason = "timeout"


class ResponseError(RegistryError):
    """The registry answered with an error status."""

    @property
    def status(self) -> int | None:
        return self.context.status

    @property
    def code(self) -> str | None:
        return self.context.code


class NotFoundError(ResponseError):
    reason = "not_found"


class AuthError(ResponseError):
    reason = "unauthorized"


class RateLimitedError(ResponseError):
    reason = "rate_limited"


class ServerError(ResponseError):
    reason = "server_error"


class DigestMismatchError(OperationError):
    """Content did not hash to the digest it was fetched by."""

    reason = "digest_mismatch"

    def __init__(self, expected: str, actual: str, *, what: str = "content") -> None:
        super().__init__(f"{what} digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class InvalidManifestError(OperationError):
    """A manifest whose JSON does not have the shape its media type requires."""


class UnsupportedMediaTypeError(OperationError):
    """A manifest media type that hangard does not copy."""

    reason = "unsupported_media_type"

    def __init__(self, media_type: str, image: str, supported: Sequence[str]) -> None:
        super().__init__(
            f"unsupported MIME type {media_type!r} for {image}; supported: {', '.join(supported)}"
        )
        self.media_type = media_type
        self.image = image
