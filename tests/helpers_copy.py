"""Shared helpers for the copy tests: a hangard client wired to harness
registries, references, images with chosen layers, and access-log queries."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import unquote

from hangard.core.reference import ImageReference, parse_reference
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import Credentials, CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness.images import (
    OCI_LAYER_TAR,
    Image,
    Layer,
    build_manifest,
    make_config,
    make_layer,
    stream_bytes,
)
from tests.harness.registry import Registry

#: Methods that write blobs (an upload start, a chunk, a commit, a mount).
BLOB_WRITES = ("POST", "PATCH", "PUT")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def registry_options(registry: Registry) -> RegistryOptions:
    """How hangard must talk to ``registry``: plain HTTP, or TLS with its CA."""
    if registry.scheme == "http":
        return RegistryOptions(http=True)
    return RegistryOptions(ca_file=registry.ca_file)


def registry_credentials(registry: Registry) -> Credentials | None:
    if registry.username is None or registry.password is None:
        return None
    return Credentials(username=registry.username, password=registry.password)


def make_client(
    *registries: Registry,
    credentials: Mapping[str, Credentials] | None = None,
    hosts: Mapping[str, RegistryOptions] | None = None,
    **client_kw: Any,
) -> RegistryClient:
    """A hangard client for ``registries`` (their own credentials unless
    ``credentials`` overrides them by host). ``hosts`` adds or overrides the
    options of a host (a fault proxy, a forced chunk size); ``client_kw``
    overrides :class:`ClientOptions` fields (backoff is fast by default)."""
    overrides = {
        r.host: creds for r in registries if (creds := registry_credentials(r)) is not None
    }
    overrides.update(credentials or {})
    client_kw.setdefault("backoff_base", 0.01)
    client_kw.setdefault("backoff_cap", 0.05)
    options = ClientOptions(
        registries={**{r.host: registry_options(r) for r in registries}, **(hosts or {})},
        **client_kw,
    )
    return RegistryClient(options, CredentialStore(overrides=overrides, environ={}))


class Host(Protocol):
    """Anything served on a ``127.0.0.1:PORT`` (a registry, a fault proxy)."""

    @property
    def host(self) -> str: ...


def ref(registry: Host, repo: str, tag_or_digest: str) -> ImageReference:
    sep = "@" if tag_or_digest.startswith("sha256:") else ":"
    return parse_reference(f"{registry.host}/{repo}{sep}{tag_or_digest}")


def blob_writes(registry: Registry) -> int:
    """Blob upload, chunk, commit and mount requests the registry has seen."""
    return sum(
        1 for e in registry.access_log() if e.method in BLOB_WRITES and "/blobs/uploads/" in e.path
    )


def uploads_of(registry: Registry, digest: str) -> int:
    """Completed monolithic or final-chunk ``PUT ...?digest=`` for ``digest``."""
    return sum(
        1
        for e in registry.access_log()
        if e.method == "PUT"
        and "/blobs/uploads/" in e.path
        and f"digest={digest}" in unquote(e.uri)
        and e.status == 201
    )


def mounts(registry: Registry, repo: str) -> list[str]:
    """URIs of successful cross-repo mount POSTs into ``repo``."""
    return [
        e.uri
        for e in registry.access_log()
        if e.method == "POST"
        and e.path == f"/v2/{repo}/blobs/uploads/"
        and "mount=" in e.uri
        and e.status == 201
    ]


def image_with_layers(layers: Sequence[Layer], *, seed: int, architecture: str = "amd64") -> Image:
    """An OCI image over the given layers (to share layers between images)."""
    config = make_config(layers, architecture=architecture, seed=seed)
    manifest, media_type = build_manifest(config, layers)
    return Image(
        manifest,
        media_type,
        config,
        list(layers),
        platform={"architecture": architecture, "os": "linux"},
    )


def big_layer(size: int, *, seed: int) -> Layer:
    """``size`` incompressible bytes as an uncompressed layer (not a real tar:
    no registry or copy looks inside)."""
    data = b"".join(stream_bytes(size, seed))
    return Layer(data, OCI_LAYER_TAR, diff_id=sha256(data))


def shared_base_images() -> tuple[Image, Image, Layer]:
    """Two images with a common base layer and a layer of their own each."""
    base = make_layer(9001, file_size=64 * 1024)
    first = image_with_layers([base, make_layer(9002)], seed=1)
    second = image_with_layers([base, make_layer(9003)], seed=2)
    return first, second, base
