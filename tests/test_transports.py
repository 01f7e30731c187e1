"""Which store a reference names: table-driven, good and bad."""

from __future__ import annotations

import pytest

from hangard.core.reference import ImageReference
from hangard.core.transports import ArchiveReference, LayoutReference, parse_store_reference
from hangard.errors import InvalidReferenceError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:/tmp/layout", LayoutReference("/tmp/layout")),
        ("oci:/tmp/layout:v1", LayoutReference("/tmp/layout", "v1")),
        ("oci:rel/dir:1.2_x-y", LayoutReference("rel/dir", "1.2_x-y")),
        ("docker://localhost:5000/a/b:t", ImageReference("localhost:5000", "a/b", tag="t")),
        ("localhost:5000/a/b", ImageReference("localhost:5000", "a/b")),
        ("hangar-archive:/x/a.zip", ArchiveReference("/x/a.zip")),
        (
            "hangar-archive:a.zip:nginx:1.22",
            ArchiveReference("a.zip", "docker.io/library/nginx", "1.22"),
        ),
        (
            "hangar-archive:a.zip:localhost:5000/a/b@sha256:" + "c" * 64,
            ArchiveReference("a.zip", "localhost:5000/a/b", None, "sha256:" + "c" * 64),
        ),
        ("hangar-archive:a.zip:h.io/a/b", ArchiveReference("a.zip", "h.io/a/b")),
    ],
)
def test_good(text: str, expected: object) -> None:
    assert parse_store_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("oci:", "needs a directory"),
        ("oci:/a:b:c", "a DIR cannot contain ':'"),
        ("oci:/a:-bad", "invalid tag"),
        (
            "oci-archive:/x.tar",
            "transport oci-archive: is not supported (supported: docker://, oci:, hangar-archive:)",
        ),
        ("dir:/x", "transport dir: is not supported"),
        ("docker-archive:/x.tar:t", "transport docker-archive:"),
        ("http://host/x", "transport http:// is not supported"),
        ("hangar-archive:", "needs a file"),
        ("hangar-archive::nginx", "needs a file"),
        ("hangar-archive:a.zip:Bad/Name", "a FILE cannot contain ':'"),
        ("hangar-archive:a.zip:n:-t", "invalid tag"),
    ],
)
def test_bad(text: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_store_reference(text)
    assert why in str(info.value)


def test_layout_reference_renders_and_rekeys() -> None:
    ref = LayoutReference("/d", "v1")
    assert str(ref) == "oci:/d:v1"
    assert ref.reference == "v1"
    assert LayoutReference("/d").reference == ""
    assert ref.with_digest("sha256:" + "a" * 64).reference == "sha256:" + "a" * 64
    assert ref.with_tag("v2") == LayoutReference("/d", "v2")


def test_archive_reference_renders_and_rekeys() -> None:
    ref = ArchiveReference("/a.zip", "docker.io/library/nginx", "1.22")
    assert str(ref) == "hangar-archive:/a.zip:docker.io/library/nginx:1.22"
    assert ref.reference == "1.22"
    assert ArchiveReference("/a.zip").reference == ""
    assert str(ArchiveReference("/a.zip")) == "hangar-archive:/a.zip"
    pinned = ref.with_digest("sha256:" + "a" * 64)
    assert pinned.reference == "sha256:" + "a" * 64
    assert str(pinned) == f"hangar-archive:/a.zip:docker.io/library/nginx:1.22@{pinned.digest}"
    assert ArchiveReference("/a.zip").with_image("h/r").with_tag("t") == ArchiveReference(
        "/a.zip", "h/r", "t"
    )
