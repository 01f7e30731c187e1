"""The hangard exception hierarchy and the failure reasons.

One root, with "the input is wrong", "the network failed" and "the registry said
no" as separate branches; the middle column is each class's :class:`Reason`::

    HangardError                          other
    ├── InputError                        other                   bad input from the user (exit code 2)
    │   ├── InvalidReferenceError         other                   an image reference that does not parse
    │   ├── ArchiveError                  other                   a zip archive that is damaged, hostile or missing a part
    │   └── ConfigError                   other                   a desired-state or settings problem
    │       └── AuthFileError             other                   an auth file (config.json) that cannot be used
    └── OperationError                    other                   a copy or lookup failed (exit code 1)
        ├── RegistryError                 other                   a registry operation failed
        │   ├── TransportError            network                 no usable HTTP answer (connect, TLS, proxy)
        │   │   └── TransportTimeoutError timeout                 no answer in time
        │   ├── BodyTooLargeError         other                   an answer body past its cap (manifest, error, token, tag page)
        │   └── ResponseError             other                   the registry answered with an error status
        │       ├── NotFoundError         not_found               404, MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN
        │       ├── AuthError             unauthorized            401, 403, DENIED, UNAUTHORIZED
        │       ├── RateLimitedError      rate_limited            429, TOOMANYREQUESTS
        │       ├── ServerError           server_error            5xx
        │       └── HarborProjectError    harbor_project          Harbor would not create a project, or refuses pushes into it
        ├── CredentialHelperError         other                   a docker-credential-* helper failed
        ├── DaemonUnreachableError        network                 ``hangard status`` got no status from the daemon
        ├── DigestMismatchError           digest_mismatch         content does not hash to its digest
        ├── BlobTooLargeError             other                   a blob of unknown size passed the cap
        ├── CycleTimeoutError             timeout                 a copy cut short by its sync cycle's deadline
        ├── InvalidManifestError          other                   a manifest document that is not well formed
        ├── Schema1ConversionError        other                   a schema1 manifest that cannot become schema2
        ├── SignatureMissingError         signature_missing       the policy wants a signature and the image has none
        ├── SignatureInvalidError         signature_invalid       no signature on the image verifies with the policy's keys
        ├── PruneRefusedError             prune_refused           a prune that would delete more than its cap
        └── UnsupportedMediaTypeError     unsupported_media_type  a manifest type hangard cannot copy

Programmer mistakes (``TypeError``, ``ValueError`` from our own code) stay
outside the root so that ``except HangardError`` never hides a bug.

Each class has a :class:`Reason`: the bounded label that metrics
(``hangard_copy_failures_total{reason}``), log events (``reason=``) and
``/status`` (``last_error_reason``) report. An error may also carry a
``remedy`` and an :class:`ErrorContext`, which grows as the error travels
outward (registry, then image, then item) through :meth:`HangardError.with_context`.

A remedy that depends on where the user acts (a flag, or a config key) is a
:class:`Hint`, written for its reader by :mod:`hangard.hints`; ``remedy``
reads it in the config's words unless a text remedy was given.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Self, TypeVar

from hangard.errorcontext import ErrorContext
from hangard.hints import Hint
from hangard.reasons import Reason

__all__ = [
    "ArchiveError",
    "AuthError",
    "AuthFileError",
    "BlobTooLargeError",
    "BodyTooLargeError",
    "ConfigError",
    "CredentialHelperError",
    "CycleTimeoutError",
    "DaemonUnreachableError",
    "DigestMismatchError",
    "ErrorContext",
    "HangardError",
    "HarborProjectError",
    "Hint",
    "InputError",
    "InvalidManifestError",
    "InvalidReferenceError",
    "NotFoundError",
    "OperationError",
    "PruneRefusedError",
    "RateLimitedError",
    "Reason",
    "RegistryError",
    "ResponseError",
    "Schema1ConversionError",
    "ServerError",
    "SignatureInvalidError",
    "SignatureMissingError",
    "TransportError",
    "TransportTimeoutError",
    "UnsupportedMediaTypeError",
]


class HangardError(Exception):
    """Root of every error hangard raises on purpose."""

    reason: Reason = Reason.OTHER
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        remedy: str | None = None,
        context: ErrorContext | None = None,
        hint: Hint | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self._remedy = remedy
        self.hint = hint
        """A remedy that depends on the reader's context; rendered by
        :mod:`hangard.hints` (``None`` when ``remedy`` is plain text)."""
        self.context = context or ErrorContext()

    @property
    def remedy(self) -> str | None:
        """What the user can do: the text given, else :attr:`hint` as the
        config would say it (:meth:`Hint.config_text`)."""
        if self._remedy is None and self.hint is not None:
            return self.hint.config_text(self.context.registry)
        return self._remedy

    @remedy.setter
    def remedy(self, text: str | None) -> None:  # replaces the hint: its setter knew more
        self._remedy = text
        self.hint = None

    def __str__(self) -> str:
        text = self.message
        where = self.context.describe()
        if where:
            text += f" [{where}]"
        if self.remedy:
            text += f" (hint: {self.remedy})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling ``__init__`` (subclasses take other
        # arguments than ``args``), then restore the attributes: this is what
        # makes ``copy.copy`` and pickling work for every subclass.
        return (_rebuild, (type(self), self.args), self.__dict__)

    def with_context(self, **fields: Any) -> Self:
        """A copy of this error whose context has the blanks among ``fields``
        filled in (see :class:`ErrorContext` for the names).

        A copy, not a change: one error can reach several items (a shared
        ``HEAD``), and each must name its own. The cause is kept.
        """
        context = self.context.merged(**fields)
        if context == self.context:
            return self
        clone = copy.copy(self)
        clone.context = context
        clone.__cause__ = self.__cause__
        clone.__suppress_context__ = self.__suppress_context__
        return clone


_E = TypeVar("_E", bound=HangardError)


def _rebuild(cls: type[_E], args: tuple[object, ...]) -> _E:
    return cls.__new__(cls, *args)


class InputError(HangardError):
    """The user gave us something we cannot use."""

    reason = Reason.OTHER
    exit_code = 2


class InvalidReferenceError(InputError):
    """An image reference that does not parse."""

    reason = Reason.OTHER


class ArchiveError(InputError):
    """A zip archive hangard cannot use: damaged, truncated, hostile (a
    duplicate or unsafe entry name, an entry past its limit) or missing a
    part. The message names the file and, where known, the entry."""

    reason = Reason.OTHER


class ConfigError(InputError):
    """A desired-state file or setting is invalid.

    ``problems`` holds every error found, each already formatted as
    ``FILE:LINE:COL: message`` where a position is known.
    """

    reason = Reason.OTHER

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class AuthFileError(ConfigError):
    """An auth file (``config.json``/``auth.json``) is unreadable or invalid."""

    reason = Reason.OTHER


class OperationError(HangardError):
    """A copy, lookup or push did not succeed."""

    reason = Reason.OTHER


class RegistryError(OperationError):
    """A registry operation failed. ``context`` says where."""

    reason = Reason.OTHER

    def __init__(
        self,
        message: str,
        context: ErrorContext | None = None,
        *,
        remedy: str | None = None,
        hint: Hint | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy, context=context, hint=hint)

    def with_image(self, image: str) -> Self:
        """Attach the image being worked on, keeping everything else."""
        return self.with_context(image=image)


class TransportError(RegistryError):
    """No usable HTTP answer: connection refused, TLS or proxy failure."""

    reason = Reason.NETWORK


class TransportTimeoutError(TransportError):
    """The registry did not answer in time (connect, read or the deadline)."""

    reason = Reason.TIMEOUT


class BodyTooLargeError(RegistryError):
    """An answer whose body passed its size cap while it streamed: a
    manifest past 4 MiB, an error body, token reply, tag page or ``/v2/``
    answer past 1 MiB. The rest is never read, so memory stays bounded."""

    reason = Reason.OTHER


class ResponseError(RegistryError):
    """The registry answered with an error status."""

    reason = Reason.OTHER

    @property
    def status(self) -> int | None:
        return self.context.status

    @property
    def code(self) -> str | None:
        return self.context.code


class NotFoundError(ResponseError):
    """The manifest, blob or repository does not exist."""

    reason = Reason.NOT_FOUND


class AuthError(ResponseError):
    """The registry refused the credentials, or their absence."""

    reason = Reason.UNAUTHORIZED


class RateLimitedError(ResponseError):
    """The registry asked us to slow down."""

    reason = Reason.RATE_LIMITED


class ServerError(ResponseError):
    """The registry failed (5xx)."""

    reason = Reason.SERVER_ERROR


class HarborProjectError(ResponseError):
    """Harbor's API would not check or create the project a push needs
    (credentials refused, no right to create projects), or the project is a
    proxy cache, into which Harbor refuses pushes (403)."""

    reason = Reason.HARBOR_PROJECT


class CredentialHelperError(OperationError):
    """A ``docker-credential-*`` helper failed for a reason other than "not found"."""

    reason = Reason.OTHER


class DaemonUnreachableError(OperationError):
    """``hangard status`` could not get ``/status`` from a running daemon:
    nothing listens at the address, or what answers is not hangard."""

    reason = Reason.NETWORK


class DigestMismatchError(OperationError):
    """Content did not hash to the digest it was fetched by."""

    reason = Reason.DIGEST_MISMATCH

    def __init__(self, expected: str, actual: str, *, what: str = "content") -> None:
        super().__init__(f"{what} digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class BlobTooLargeError(OperationError):
    """A blob whose size nothing declared grew past the configured cap."""

    reason = Reason.OTHER


class CycleTimeoutError(OperationError):
    """A copy still running when its sync cycle's deadline
    (``HANGARD_CYCLE_TIMEOUT``) passed, and was cancelled."""

    reason = Reason.TIMEOUT


class InvalidManifestError(OperationError):
    """A manifest whose JSON does not have the shape its media type requires."""

    reason = Reason.OTHER


class Schema1ConversionError(OperationError):
    """A schema1 manifest could not be converted to schema2."""

    reason = Reason.OTHER


class SignatureMissingError(OperationError):
    """The signature policy requires a signature and the image has none."""

    reason = Reason.SIGNATURE_MISSING


class SignatureInvalidError(OperationError):
    """The image has signatures, but none verifies with the policy's keys
    (or the policy rejects the image outright)."""

    reason = Reason.SIGNATURE_INVALID


class PruneRefusedError(OperationError):
    """A prune that would delete more tags than its cap (``prune_max``):
    nothing was deleted."""

    reason = Reason.PRUNE_REFUSED


class UnsupportedMediaTypeError(OperationError):
    """A manifest media type that hangard does not copy."""

    reason = Reason.UNSUPPORTED_MEDIA_TYPE

    def __init__(self, media_type: str, image: str, supported: Sequence[str]) -> None:
        super().__init__(
            f"unsupported MIME type {media_type!r} for {image}; supported: {', '.join(supported)}"
        )
        self.media_type = media_type
        self.image = image
