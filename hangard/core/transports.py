"""Which store a reference names, by its transport prefix (skopeo's habit):

* ``docker://HOST/REPO[:TAG][@DIGEST]`` (or no prefix at all): a registry
  repository, parsed by :func:`hangard.core.reference.parse_reference`;
* ``oci:DIR[:TAG]``: an OCI image layout directory. As in skopeo
  (containers/image ``SplitPathAndImage``), the text after ``oci:`` is split
  at its *first* ``:``, so a DIR cannot contain ``:``; what follows must be a
  valid tag (the ``org.opencontainers.image.ref.name`` in ``index.json``).
  Without a tag, the layout must hold exactly one image (as a source), and
  the source's tag is used (as a destination);
* ``hangar-archive:FILE.zip[:IMAGE]``: an image in a Hangar-format zip
  archive, IMAGE a registry-style name with a tag or digest
  (``docker.io/library/nginx:1.22``), as the archive's ``source`` and
  ``tag`` record it. FILE is split at its first ``:`` too. Without IMAGE,
  a source archive must hold one image, and a destination takes the
  source's name (``host/repo``, as Hangar writes ``source``) and tag.

Other containers/image transports (``oci-archive:``, ``dir:``,
``docker-archive:``…) are refused with the list of supported ones. This
module does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hangard.core.reference import ImageReference, parse_reference, parse_tag
from hangard.errors import InvalidReferenceError

__all__ = [
    "ARCHIVE_PREFIX",
    "OCI_PREFIX",
    "SUPPORTED_TRANSPORTS",
    "ArchiveReference",
    "LayoutReference",
    "StoreReference",
    "parse_store_reference",
]

OCI_PREFIX = "oci:"
ARCHIVE_PREFIX = "hangar-archive:"
SUPPORTED_TRANSPORTS = ("docker://", OCI_PREFIX, ARCHIVE_PREFIX)
_TRANSPORT = re.compile(r"[a-z][a-z0-9-]*(?=:)")
_KNOWN_OTHERS = frozenset(
    {"oci-archive", "dir", "docker-archive", "docker-daemon", "containers-storage", "sif"}
)


@dataclass(frozen=True)
class LayoutReference:
    """An image in an OCI layout directory: ``oci:DIR[:TAG]``."""

    directory: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The key in the layout: the digest if pinned, else the tag; ``""``
        names the layout's only image."""
        return self.digest or self.tag or ""

    def with_tag(self, tag: str) -> LayoutReference:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> LayoutReference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = f"{OCI_PREFIX}{self.directory}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class ArchiveReference:
    """An image in a Hangar zip archive: ``hangar-archive:FILE[:IMAGE]``."""

    path: str
    image: str | None = None
    """The image's name as the archive records it (``host/repo``)."""
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The key in the archive: the digest if pinned, else the tag;
        ``""`` names the image's (or the archive's) only tag."""
        return self.digest or self.tag or ""

    def with_tag(self, tag: str) -> ArchiveReference:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ArchiveReference:
        return replace(self, digest=digest)

    def with_image(self, image: str) -> ArchiveReference:
        return replace(self, image=image)

    def __str__(self) -> str:
        text = f"{ARCHIVE_PREFIX}{self.path}"
        if self.image:
            text += f":{self.image}"
            if self.tag:
                text += f":{self.tag}"
            if self.digest:
                text += f"@{self.digest}"
        return text


StoreReference = ImageReference | LayoutReference | ArchiveReference
"""A reference to an image in any store hangard supports."""


def _fail(text: str, why: str) -> InvalidReferenceError:
    return InvalidReferenceError(f"invalid image reference {text!r}: {why}")


def _archive(text: str, body: str) -> ArchiveReference:
    path, sep, image = body.partition(":")
    if not path:
        raise _fail(text, "hangar-archive: needs a file (hangar-archive:FILE.zip[:IMAGE])")
    if not sep:
        return ArchiveReference(path)
    try:
        ref = parse_reference(image)
    except InvalidReferenceError as exc:
        raise _fail(text, f"{exc} (a FILE cannot contain ':', as in skopeo)") from None
    return ArchiveReference(path, ref.name, ref.tag, ref.digest)


def parse_store_reference(text: str) -> StoreReference:
    """Parse ``docker://…`` (or a bare registry reference), ``oci:DIR[:TAG]``
    or ``hangar-archive:FILE[:IMAGE]``."""
    body = text.strip()
    if body.startswith(ARCHIVE_PREFIX):
        return _archive(text, body[len(ARCHIVE_PREFIX) :])
    if body.startswith(OCI_PREFIX):
        directory, sep, tag = body[len(OCI_PREFIX) :].partition(":")
        if not directory:
            raise _fail(text, "oci: needs a directory (oci:DIR[:TAG])")
        if sep:
            try:
                parse_tag(tag)
            except InvalidReferenceError as exc:
                raise _fail(text, f"{exc} (a DIR cannot contain ':', as in skopeo)") from None
        return LayoutReference(directory, tag or None)
    found = _TRANSPORT.match(body)
    if found and found.group() in _KNOWN_OTHERS:
        supported = ", ".join(SUPPORTED_TRANSPORTS)
        raise _fail(text, f"transport {found.group()}: is not supported (supported: {supported})")
    if "://" in body and not body.startswith("docker://"):
        scheme = body.split("://", 1)[0]
        supported = ", ".join(SUPPORTED_TRANSPORTS)
        raise _fail(text, f"transport {scheme}:// is not supported (supported: {supported})")
    return parse_reference(body)
