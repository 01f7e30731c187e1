"""Image references: ``[docker://]registry[:port]/path/name[:tag][@sha256:…]``.

Defaulting rules, all in one place:

* A first path segment is a registry host when it contains ``.`` or ``:``, or
  is ``localhost``. Otherwise the registry is :data:`DEFAULT_REGISTRY`.
* On Docker Hub a single-segment name lives under ``library/``.
* Hosts are lowercase, and ``index.docker.io`` and ``registry-1.docker.io``
  are spelled ``docker.io`` (:func:`canonical_host`).
* A reference with neither tag nor digest means tag :data:`DEFAULT_TAG`.

This module does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

from hangard.errors import InvalidReferenceError

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "DOCKER_HUB_ALIASES",
    "ImageReference",
    "Repository",
    "canonical_host",
    "parse_digest",
    "parse_path",
    "parse_reference",
    "parse_repository",
    "parse_tag",
    "short_digest",
]

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
TRANSPORT_PREFIX = "docker://"
MAX_NAME_LENGTH = 255
# containers/image transports people paste from skopeo commands
_OTHER_TRANSPORTS = frozenset(
    {"oci", "oci-archive", "dir", "docker-archive", "docker-daemon", "containers-storage"}
)

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"(?P<alg>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)")
#: OCI's registered algorithms; anything else (md5, sha384, ``nope``) is refused
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_TAG_RULE = "1-128 of A-Z a-z 0-9 _ . -, not starting . or -"
_HOST_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_REGISTRY = re.compile(
    rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?"
)


def _fail(text: str, why: str) -> Exception:
    return InvalidReferenceError(f"invalid image reference {text!r}: {why}")


Fail = Callable[[str, str], Exception]
"""``fail(text, why)``: the error to raise for ``text``."""


def parse_digest(text: str, *, within: str | None = None, fail: Fail = _fail) -> str:
    """Validate ``algorithm:hex`` and return it unchanged. ``fail(text,
    why)`` makes the error; ``within`` is the text to quote in it."""
    original = within or text
    m = _DIGEST.fullmatch(text)
    if not m:
        raise fail(original, "digest must look like sha256:<64 hex digits>")
    alg, hexpart = m.group("alg"), m.group("hex")
    want = _DIGEST_HEX_LENGTH.get(alg)
    if want is None:
        raise fail(original, f"unsupported digest algorithm {alg!r}")
    if len(hexpart) != want or not re.fullmatch(r"[0-9a-f]+", hexpart):
        raise fail(original, f"{alg} digest must be {want} lowercase hex digits")
    return text


def canonical_host(text: str) -> str:
    """A registry host (``quay.io``, ``host:5000``, ``[::1]:5000``) in its
    one spelling: Docker Hub's aliases are ``docker.io``, and the name is
    lowercase. :class:`InvalidReferenceError` if it is not a host."""
    host = text.strip()
    if not host or not _REGISTRY.fullmatch(host):
        raise InvalidReferenceError(f"{text!r} is not a registry host (like quay.io or host:5000)")
    host = host.lower()
    return DEFAULT_REGISTRY if host in DOCKER_HUB_ALIASES else host


def parse_tag(text: str, *, what: str = "tag") -> str:
    """Validate a tag and return it unchanged; the error names ``what``."""
    if not _TAG.fullmatch(text):
        raise InvalidReferenceError(f"invalid {what} {text!r} ({_TAG_RULE})")
    return text


def parse_path(text: str, *, what: str = "repository path") -> str:
    """Validate a repository path (``team/app``; no registry, tag or
    digest, no ``library/`` defaulting) and return it unchanged; the error
    names ``what``."""

    def fail(quoted: str, why: str) -> Exception:
        return InvalidReferenceError(f"invalid {what} {quoted!r}: {why}")

    return _check_path(text, registry="", fail=fail)


@dataclass(frozen=True, order=True)
class Repository:
    """A repository on a registry: ``registry/path``."""

    registry: str
    path: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"

    def tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.path, tag=tag)

    def digest(self, digest: str) -> ImageReference:
        return ImageReference(self.registry, self.path, digest=digest)


@dataclass(frozen=True, order=True)
class ImageReference:
    """A parsed image reference. Build one with :func:`parse_reference`."""

    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @cached_property
    def repository(self) -> Repository:
        return Repository(self.registry, self.path)

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.path}"

    def with_tag(self, tag: str) -> ImageReference:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ImageReference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_registry(text: str, name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _REGISTRY.fullmatch(first):
            raise _fail(text, f"invalid registry host {first!r}")
        return canonical_host(first), rest
    return DEFAULT_REGISTRY, name


def _check_path(
    path: str,
    registry: str,
    *,
    text: str | None = None,
    fail: Fail = _fail,
) -> str:
    """``path`` checked segment by segment (``fail(text, why)`` makes the
    error), with Docker Hub's ``library/`` added where it applies."""
    text = path if text is None else text
    if not path:
        raise fail(text, "repository name is empty")
    for component in path.split("/"):
        if not component:
            raise fail(text, "repository path has an empty segment")
        if not _PATH_COMPONENT.fullmatch(component):
            if component.lower() != component and _PATH_COMPONENT.fullmatch(component.lower()):
                raise fail(text, "repository name must be lowercase")
            raise fail(
                text,
                f"invalid path segment {component!r} (allowed: a-z 0-9 and single . _ __ or -)",
            )
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if len(registry) + 1 + len(path) > MAX_NAME_LENGTH:
        raise fail(text, f"name longer than {MAX_NAME_LENGTH} characters")
    return path


def parse_repository(text: str) -> Repository:
    """Parse ``[registry/]path`` with no tag or digest."""
    ref = parse_reference(text)
    if ref.tag or ref.digest:
        raise _fail(text, "a repository takes no tag or digest")
    return ref.repository


def parse_reference(text: str) -> ImageReference:
    """Parse an image reference, applying the defaulting rules above.

    The tag stays ``None`` when only a digest is given or neither is;
    :attr:`ImageReference.reference` supplies ``latest`` where needed.
    """
    if not isinstance(text, str):
        raise TypeError("reference must be a str")
    body = text.strip()
    if body.startswith(TRANSPORT_PREFIX):
        body = body[len(TRANSPORT_PREFIX) :]
    elif "://" in body or body.split(":", 1)[0] in _OTHER_TRANSPORTS:
        raise _fail(text, "only the docker:// transport is supported")
    if not body:
        raise _fail(text, "empty reference")
    if any(c.isspace() for c in body):
        raise _fail(text, "contains whitespace")

    digest: str | None = None
    if "@" in body:
        body, _, digest_text = body.partition("@")
        digest = parse_digest(digest_text, within=text)

    registry, remainder = _split_registry(text, body)
    tag: str | None = None
    last_slash = remainder.rfind("/")
    colon = remainder.find(":", last_slash + 1)
    if colon != -1:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _fail(text, f"invalid tag {tag!r} ({_TAG_RULE})")
    path = _check_path(remainder, registry, text=text)
    return ImageReference(registry, path, tag=tag, digest=digest)


def short_digest(digest: str | None) -> str:
    """``sha256:`` and the first 12 hex digits, for people; ``-`` for none."""
    if not digest:
        return "-"
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}"
