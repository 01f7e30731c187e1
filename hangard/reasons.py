"""The failure reasons: the one bounded list of labels a failure carries
(each :mod:`hangard.errors` class has one)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Why an item failed: the one list of failure labels.

    The values are part of hangard's interface: the ``reason`` label of
    ``hangard_copy_failures_total``, the ``reason`` field of log events,
    ``last_error_reason`` in ``/status`` and the state file, the README's
    table, the alert rules and the dashboard all use exactly these.
    """

    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    NETWORK = "network"
    SERVER_ERROR = "server_error"
    DIGEST_MISMATCH = "digest_mismatch"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    HARBOR_PROJECT = "harbor_project"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    PRUNE_REFUSED = "prune_refused"
    OTHER = "other"

    @classmethod
    def parse(cls, value: object) -> Reason:
        """``value`` as a reason; anything unknown (an older or newer
        hangard's label, a damaged file) reads as :attr:`OTHER`."""
        try:
            return cls(value) if isinstance(value, str) else cls.OTHER
        except ValueError:
            return cls.OTHER
