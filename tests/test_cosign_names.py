"""Cosign and OCI 1.1 fallback tag names (hangard.core.cosign)."""

from __future__ import annotations

import pytest

from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from hangard.errors import InvalidReferenceError

DIGEST = "sha256:" + "ab" * 32


def test_fallback_tag_replaces_the_colon() -> None:
    assert referrers_fallback_tag(DIGEST) == "sha256-" + "ab" * 32


@pytest.mark.parametrize(("suffix", "end"), [(s, s.value) for s in CosignSuffix])
def test_cosign_tags(suffix: CosignSuffix, end: str) -> None:
    assert cosign_tag(DIGEST, suffix) == f"sha256-{'ab' * 32}.{end}"


def test_an_invalid_digest_never_becomes_a_tag() -> None:
    with pytest.raises(InvalidReferenceError):
        referrers_fallback_tag("sha256:../../etc")
