"""Build and push small test images over HTTP, independent of hangard.

Everything here uses a plain synchronous :class:`httpx.Client`
(:class:`RegistryClient`) so that it is an honest cross-check of hangard.  It
works against plain HTTP, TLS (verified with ``Registry.ca_file``), basic-auth
and token-auth registries (a 401 ``Bearer`` challenge is answered with a token
fetched from the realm using the registry's basic credentials, then retried).

Building (pure, in memory, deterministic from ``seed``):

* ``make_layer(seed, *, files=2, file_size=1024, media_type=...) -> Layer`` -
  a real gzip-compressed tar; ``Layer.diff_id`` is the uncompressed sha256.
* ``make_config(layers, *, architecture, os, variant, seed, docker) -> Blob`` -
  image config with ``rootfs.diff_ids`` and one non-empty ``history`` entry
  per layer.
* ``build_image(seed=0, *, oci=True, layer_count=2, architecture="amd64",
  os="linux", variant=None, annotations=None) -> Image`` - Docker schema2
  (``oci=False``) or OCI manifest.
* ``build_attestation(seed, subject: Image) -> Image`` - BuildKit-style
  attestation manifest (in-toto layer).
* ``build_index(seed=0, *, oci=True, platforms=DEFAULT_PLATFORMS,
  attestations=False, layer_count=1) -> Index`` - OCI index or Docker manifest
  list over one child per platform (+ attestation manifests with platform
  ``unknown/unknown`` and ``vnd.docker.reference.*`` annotations).

Pushing (``registry`` is a :class:`tests.harness.registry.Registry`):

* ``push_blob(registry, repo, data) -> digest``;
* ``push_blob_stream(registry, repo, size, seed, chunk_size=1 MiB) -> digest`` -
  incompressible AES-CTR bytes, streamed as one monolithic ``PUT`` with an
  iterator body and ``Content-Length``;
* ``push_image(registry, repo, image, tag=None) -> Image`` - blobs, then the
  manifest by tag (or by digest when ``tag`` is None);
* ``push_index(registry, repo, index, tag=None) -> Index`` - children and
  attestations by digest first, then the index;
* shortcuts: ``push_schema2_image``, ``push_oci_image``, ``push_oci_index``,
  ``push_docker_manifest_list``, ``push_big_image(registry, repo, tag, size,
  seed) -> BigImage`` (one layer of ``application/vnd.oci.image.layer.v1.tar``);
* ``push_schema1_image(registry, repo, *, seed=0, layer_count=2,
  source_tag="schema2-source", tag="schema1") -> Schema1Image`` - needs the
  schema1-enabled registry; the registry converts+signs, we PUT the bytes back.
  NB: registry 2.8 stores only the JWS *payload* of a schema1 manifest and
  re-signs it with its own (ephemeral) key on every GET, so two GETs never
  return the same bytes.  Compare ``schema1_payload()`` / ``schema1_digest()``
  (== ``Docker-Content-Digest``), not raw bytes.
* ``schema1_payload(data) -> bytes``, ``schema1_digest(data) -> str`` -
  libtrust payload (signatures stripped via ``formatLength``/``formatTail``)
  and its digest.

Reading / damaging:

* ``get_manifest(registry, repo, ref, accept=ALL_MANIFEST_TYPES) -> httpx.Response``;
* ``get_manifest_raw(registry, repo, ref) -> bytes``;
* ``get_blob``, ``blob_exists``, ``manifest_exists``, ``list_tags``,
  ``delete_manifest``;
* ``corrupt_blob(registry, repo, digest)`` - overwrite the blob's data file
  in the registry's storage with different bytes of the same length.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import re
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.harness.registry import Registry

# ----------------------------------------------------------------- media types
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ALL_MANIFEST_TYPES: tuple[str, ...] = (
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA2,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
)
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
IN_TOTO = "application/vnd.in-toto+json"

#: (os, architecture, variant) of the default multi-arch set.
DEFAULT_PLATFORMS: tuple[tuple[str, str, str | None], ...] = (
    ("linux", "amd64", None),
    ("linux", "arm64", "v8"),
    ("linux", "arm", "v7"),
)
CREATED = "2024-01-02T03:04:05Z"


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _dump(obj: Any) -> bytes:
    """Manifest/config serialisation: 3-space indent like docker (not canonical)."""
    return json.dumps(obj, indent=3).encode()


# -------------------------------------------------------------------- models
@dataclass(frozen=True)
class Blob:
    """Content plus the media type it is referenced with."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        """sha256 digest of the data."""
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """OCI/Docker descriptor dict."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Layer(Blob):
    """A layer blob and its uncompressed digest."""

    diff_id: str = ""


@dataclass
class Image:
    """A single-platform manifest with its config and layers."""

    manifest: bytes
    media_type: str
    config: Blob
    layers: list[Blob]
    platform: dict[str, str] | None = None
    tag: str | None = None

    @property
    def digest(self) -> str:
        """Digest of the exact manifest bytes."""
        return sha256_digest(self.manifest)

    @property
    def diff_ids(self) -> list[str]:
        """``rootfs.diff_ids`` of the config."""
        return list(json.loads(self.config.data)["rootfs"]["diff_ids"])

    @property
    def blobs(self) -> list[Blob]:
        """Config followed by layers."""
        return [self.config, *self.layers]

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """Descriptor of the manifest (with platform if known)."""
        d: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest),
        }
        if self.platform is not None:
            d["platform"] = dict(self.platform)
        d.update(extra)
        return d


@dataclass
class Index:
    """An OCI index or Docker manifest list and its children."""

    manifest: bytes
    media_type: str
    children: list[Image]
    attestations: list[Image] = field(default_factory=list)
    tag: str | None = None

    @property
    def digest(self) -> str:
        """Digest of the exact index bytes."""
        return sha256_digest(self.manifest)

    @property
    def all_manifests(self) -> list[Image]:
        """Children followed by attestation manifests."""
        return [*self.children, *self.attestations]


@dataclass
class BigImage:
    """A single-layer image around a streamed blob (the layer is not held in memory)."""

    manifest: bytes
    media_type: str
    config: Blob
    layer_digest: str
    layer_size: int
    tag: str

    @property
    def digest(self) -> str:
        """Digest of the manifest bytes."""
        return sha256_digest(self.manifest)


@dataclass
class Schema1Image:
    """A signed schema1 manifest pushed under ``tag``."""

    manifest: bytes
    tag: str
    digest: str
    diff_ids: list[str]
    source: Image

    @property
    def parsed(self) -> dict[str, Any]:
        """The manifest as JSON."""
        return dict(json.loads(self.manifest))


# ------------------------------------------------------------------ building
def make_layer(
    seed: int,
    *,
    files: int = 2,
    file_size: int = 1024,
    media_type: str = OCI_LAYER_GZIP,
) -> Layer:
    """A deterministic gzip-compressed tar with ``files`` random files."""
    rng = random.Random(f"layer-{seed}")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo(f"layer{seed}")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        d.mtime = 1_700_000_000
        tar.addfile(d)
        for i in range(files):
            payload = rng.randbytes(file_size)
            info = tarfile.TarInfo(f"layer{seed}/file{i}.bin")
            info.size = len(payload)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(payload))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=6, mtime=0)
    return Layer(compressed, media_type, diff_id=sha256_digest(uncompressed))


def make_config(
    layers: Sequence[Layer],
    *,
    architecture: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    seed: int = 0,
    docker: bool = False,
) -> Blob:
    """Image config JSON: platform, ``rootfs.diff_ids`` and one history entry per layer."""
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
    }
    if variant:
        cfg["variant"] = variant
    cfg.update(
        {
            "created": CREATED,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": {"org.hangard.test.seed": str(seed)},
            },
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [
                {
                    "created": CREATED,
                    "created_by": f"/bin/sh -c #(nop) ADD file:{layer.diff_id[7:19]} in /",
                }
                for layer in layers
            ],
        }
    )
    return Blob(_dump(cfg), DOCKER_CONFIG if docker else OCI_CONFIG)


def _platform(os: str, architecture: str, variant: str | None) -> dict[str, str]:
    p = {"architecture": architecture, "os": os}
    if variant:
        p["variant"] = variant
    return p


def build_manifest(
    config: Blob,
    layers: Sequence[Blob],
    *,
    oci: bool = True,
    annotations: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """Serialise an image manifest; returns (bytes, media type)."""
    media_type = OCI_MANIFEST if oci else DOCKER_SCHEMA2
    m: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        m["annotations"] = dict(annotations)
    return _dump(m), media_type


def build_image(
    seed: int = 0,
    *,
    oci: bool = True,
    layer_count: int = 2,
    architecture: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    annotations: Mapping[str, str] | None = None,
    file_size: int = 1024,
) -> Image:
    """A single-platform image whose content is a function of its arguments."""
    layer_type = OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP
    tag = f"{seed}-{os}-{architecture}-{variant}"
    layers = [
        make_layer(
            int.from_bytes(hashlib.sha256(f"{tag}-{i}".encode()).digest()[:6], "big"),
            file_size=file_size,
            media_type=layer_type,
        )
        for i in range(layer_count)
    ]
    config = make_config(
        layers, architecture=architecture, os=os, variant=variant, seed=seed, docker=not oci
    )
    manifest, media_type = build_manifest(config, layers, oci=oci, annotations=annotations)
    return Image(
        manifest, media_type, config, list(layers), platform=_platform(os, architecture, variant)
    )


def build_attestation(seed: int, subject: Image) -> Image:
    """A BuildKit-style attestation manifest (in-toto provenance layer) for ``subject``."""
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "_", "digest": {"sha256": subject.digest[7:]}}],
        "predicate": {"builder": {"id": f"hangard-test-{seed}"}},
    }
    layer = Blob(_dump(statement), IN_TOTO)
    layer_desc = layer.descriptor(
        annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
    )
    config = Blob(
        _dump(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
            }
        ),
        OCI_CONFIG,
    )
    m = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer_desc],
    }
    return Image(_dump(m), OCI_MANIFEST, config, [layer], platform=None)


def build_index(
    seed: int = 0,
    *,
    oci: bool = True,
    platforms: Sequence[tuple[str, str, str | None]] = DEFAULT_PLATFORMS,
    attestations: bool = False,
    layer_count: int = 1,
    annotations: Mapping[str, str] | None = None,
) -> Index:
    """OCI index (``oci=True``) or Docker manifest list over one child per platform."""
    children = [
        build_image(
            seed, oci=oci, layer_count=layer_count, architecture=arch, os=os_, variant=variant
        )
        for os_, arch, variant in platforms
    ]
    descriptors = [c.descriptor() for c in children]
    atts: list[Image] = []
    if attestations:
        for child in children:
            att = build_attestation(seed, child)
            atts.append(att)
            descriptors.append(
                att.descriptor(
                    annotations={
                        "vnd.docker.reference.digest": child.digest,
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                    platform={"architecture": "unknown", "os": "unknown"},
                )
            )
    media_type = OCI_INDEX if oci else DOCKER_MANIFEST_LIST
    idx: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": descriptors,
    }
    if annotations:
        idx["annotations"] = dict(annotations)
    return Index(_dump(idx), media_type, children, atts)


# -------------------------------------------------------------------- client
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REPO_IN_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="..",service=".."`` -> ("bearer", {realm, service, ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class RegistryClient:
    """Synchronous distribution-API client with basic and bearer-token auth."""

    def __init__(
        self,
        registry: Registry,
        username: str | None = None,
        password: str | None = None,
        *,
        anonymous: bool = False,
        timeout: float = 120.0,
    ) -> None:
        """Credentials default to the registry's; ``anonymous`` sends none."""
        self.registry = registry
        self.username = username if username is not None else registry.username
        self.password = password if password is not None else registry.password
        if anonymous:
            self.username = self.password = None
        self.http = httpx.Client(verify=registry.verify, timeout=timeout)
        self._tokens: dict[str, str] = {}
        self.token_fetches = 0

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _auth_headers(self, repo: str) -> dict[str, str]:
        if self.registry.auth == "basic" and self.username is not None:
            creds = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(creds).decode()}
        token = self._tokens.get(repo)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def fetch_token(self, params: Mapping[str, str]) -> str:
        """GET a token from the challenge's realm (basic creds if we have them)."""
        query: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in params:
            query.append(("service", params["service"]))
        for scope in params.get("scope", "").split(" "):
            if scope:
                query.append(("scope", scope))
        auth = (self.username, self.password or "") if self.username else None
        r = self.http.get(params["realm"], params=query, auth=auth)
        r.raise_for_status()
        body = r.json()
        self.token_fetches += 1
        return str(body.get("token") or body["access_token"])

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        replayable: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; answer a Bearer challenge once (if ``replayable``)."""
        url = urljoin(self.registry.url + "/", path_or_url)
        path = httpx.URL(url).path
        m = _REPO_IN_PATH.match(path)
        repo = m.group(1) if m else ""
        hdrs = {**self._auth_headers(repo), **(headers or {})}
        r = self.http.request(method, url, headers=hdrs, **kwargs)
        if r.status_code != 401 or not replayable:
            return r
        scheme, params = parse_challenge(r.headers.get("WWW-Authenticate", ""))
        if scheme != "bearer" or "realm" not in params:
            return r
        self._tokens[repo] = self.fetch_token(params)
        hdrs = {**self._auth_headers(repo), **(headers or {})}
        return self.http.request(method, url, headers=hdrs, **kwargs)

    # -------------------------------------------------------------- blobs
    def blob_exists(self, repo: str, digest: str) -> bool:
        """HEAD the blob."""
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        return r.status_code == 200

    def _start_upload(self, repo: str) -> str:
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        _check(r, 202)
        return urljoin(f"{self.registry.url}/v2/{repo}/blobs/uploads/", r.headers["Location"])

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        sep = "&" if "?" in location else "?"
        return f"{location}{sep}digest={digest}"

    def push_blob(self, repo: str, data: bytes, *, skip_existing: bool = True) -> str:
        """Upload ``data`` (POST + monolithic PUT); returns its digest."""
        digest = sha256_digest(data)
        if skip_existing and self.blob_exists(repo, digest):
            return digest
        location = self._start_upload(repo)
        r = self.request(
            "PUT",
            self._with_digest(location, digest),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        _check(r, 201)
        return digest

    def push_blob_iter(self, repo: str, digest: str, size: int, chunks: Iterator[bytes]) -> str:
        """Monolithic PUT of a streamed body (iterator + Content-Length)."""
        location = self._start_upload(repo)  # also obtains a push token
        r = self.request(
            "PUT",
            self._with_digest(location, digest),
            content=chunks,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            replayable=False,
        )
        _check(r, 201)
        return digest

    # ---------------------------------------------------------- manifests
    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> httpx.Response:
        """PUT manifest bytes under a tag or digest."""
        r = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            content=data,
            headers={"Content-Type": media_type},
        )
        _check(r, 201)
        return r

    def get_manifest(
        self, repo: str, ref: str, accept: Sequence[str] = ALL_MANIFEST_TYPES
    ) -> httpx.Response:
        """GET a manifest with the given Accept list."""
        return self.request(
            "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(accept)}
        )


class PushError(RuntimeError):
    """Unexpected registry answer while pushing."""


def _check(r: httpx.Response, *expected: int) -> None:
    if r.status_code not in expected:
        raise PushError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}")


def _client(registry: Registry, client: RegistryClient | None) -> RegistryClient:
    return client if client is not None else RegistryClient(registry)


# --------------------------------------------------------------- pushing API
def push_blob(
    registry: Registry, repo: str, data: bytes, *, client: RegistryClient | None = None
) -> str:
    """Upload one blob; returns its digest."""
    c = _client(registry, client)
    try:
        return c.push_blob(repo, data)
    finally:
        if client is None:
            c.close()


def stream_bytes(size: int, seed: int, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Deterministic incompressible bytes (AES-256-CTR keystream of ``seed``)."""
    key = hashlib.sha256(f"blob-stream-{seed}".encode()).digest()
    enc = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
    zeros = bytes(chunk_size)
    remaining = size
    while remaining > 0:
        n = min(chunk_size, remaining)
        yield enc.update(zeros[:n])
        remaining -= n


def stream_digest(size: int, seed: int, chunk_size: int = 1 << 20) -> str:
    """Digest of ``stream_bytes(size, seed)`` without keeping the data."""
    h = hashlib.sha256()
    for chunk in stream_bytes(size, seed, chunk_size):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def push_blob_stream(
    registry: Registry,
    repo: str,
    size: int,
    seed: int,
    *,
    chunk_size: int = 1 << 20,
    client: RegistryClient | None = None,
) -> str:
    """Upload ``size`` incompressible bytes streamed in chunks; returns the digest."""
    digest = stream_digest(size, seed, chunk_size)
    c = _client(registry, client)
    try:
        return c.push_blob_iter(repo, digest, size, stream_bytes(size, seed, chunk_size))
    finally:
        if client is None:
            c.close()


def push_image(
    registry: Registry,
    repo: str,
    image: Image,
    tag: str | None = None,
    *,
    client: RegistryClient | None = None,
) -> Image:
    """Push blobs then the manifest (by ``tag``, or by digest if None); returns ``image``."""
    c = _client(registry, client)
    try:
        for blob in image.blobs:
            c.push_blob(repo, blob.data)
        r = c.put_manifest(repo, tag or image.digest, image.manifest, image.media_type)
        got = r.headers.get("Docker-Content-Digest")
        if got and got != image.digest:
            raise PushError(f"registry digest {got} != {image.digest}")
        image.tag = tag
        return image
    finally:
        if client is None:
            c.close()


def push_index(
    registry: Registry,
    repo: str,
    index: Index,
    tag: str | None = None,
    *,
    client: RegistryClient | None = None,
) -> Index:
    """Push every child (by digest), then the index by ``tag`` (or digest)."""
    c = _client(registry, client)
    try:
        for child in index.all_manifests:
            push_image(registry, repo, child, None, client=c)
        r = c.put_manifest(repo, tag or index.digest, index.manifest, index.media_type)
        got = r.headers.get("Docker-Content-Digest")
        if got and got != index.digest:
            raise PushError(f"registry digest {got} != {index.digest}")
        index.tag = tag
        return index
    finally:
        if client is None:
            c.close()


def push_schema2_image(
    registry: Registry, repo: str, tag: str = "latest", seed: int = 0, **kw: Any
) -> Image:
    """Build and push a Docker schema2 image (``build_image`` kwargs allowed)."""
    return push_image(registry, repo, build_image(seed, oci=False, **kw), tag)


def push_oci_image(
    registry: Registry, repo: str, tag: str = "latest", seed: int = 0, **kw: Any
) -> Image:
    """Build and push an OCI image (``build_image`` kwargs allowed)."""
    return push_image(registry, repo, build_image(seed, oci=True, **kw), tag)


def push_oci_index(
    registry: Registry,
    repo: str,
    tag: str = "latest",
    seed: int = 0,
    *,
    attestations: bool = False,
    **kw: Any,
) -> Index:
    """Build and push a 3-platform OCI index (optionally with attestations)."""
    return push_index(
        registry, repo, build_index(seed, oci=True, attestations=attestations, **kw), tag
    )


def push_docker_manifest_list(
    registry: Registry, repo: str, tag: str = "latest", seed: int = 0, **kw: Any
) -> Index:
    """Build and push a 3-platform Docker manifest list."""
    return push_index(registry, repo, build_index(seed, oci=False, **kw), tag)


def push_big_image(
    registry: Registry,
    repo: str,
    tag: str,
    size: int,
    seed: int,
    *,
    chunk_size: int = 1 << 20,
) -> BigImage:
    """Push an OCI image whose single layer is a streamed blob of ``size`` bytes."""
    with RegistryClient(registry) as c:
        layer_digest = push_blob_stream(registry, repo, size, seed, chunk_size=chunk_size, client=c)
        config = Blob(
            _dump(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "created": CREATED,
                    "config": {"Labels": {"org.hangard.test.seed": str(seed)}},
                    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
                    "history": [{"created": CREATED, "created_by": f"big blob {size}"}],
                }
            ),
            OCI_CONFIG,
        )
        c.push_blob(repo, config.data)
        m = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": size}],
        }
        data = _dump(m)
        c.put_manifest(repo, tag, data, OCI_MANIFEST)
    return BigImage(data, OCI_MANIFEST, config, layer_digest, size, tag)


def push_schema1_image(
    registry: Registry,
    repo: str,
    *,
    seed: int = 0,
    layer_count: int = 2,
    source_tag: str = "schema2-source",
    tag: str = "schema1",
) -> Schema1Image:
    """Signed schema1 via the registry's on-the-fly conversion (schema1 registry only).

    Pushes a schema2 image as ``source_tag``, GETs it accepting only
    ``v1+prettyjws`` (the registry converts and signs it), then PUTs those
    exact bytes under ``tag``.
    """
    source = push_schema2_image(registry, repo, source_tag, seed, layer_count=layer_count)
    with RegistryClient(registry) as c:
        r = c.get_manifest(repo, source_tag, accept=[DOCKER_SCHEMA1_SIGNED])
        _check(r, 200)
        data = r.content
        if json.loads(data).get("schemaVersion") != 1:
            raise PushError(f"registry did not convert to schema1: {r.headers}")
        put = c.put_manifest(repo, tag, data, DOCKER_SCHEMA1_SIGNED)
        digest = put.headers["Docker-Content-Digest"]
    return Schema1Image(data, tag, digest, source.diff_ids, source)


def schema1_payload(data: bytes) -> bytes:
    """The signed payload of a prettyjws schema1 manifest (what its digest covers)."""
    sigs = json.loads(data).get("signatures") or []
    if not sigs:
        return data
    protected = json.loads(base64.urlsafe_b64decode(_pad(sigs[0]["protected"])))
    tail = base64.urlsafe_b64decode(_pad(protected["formatTail"]))
    return data[: int(protected["formatLength"])] + tail


def schema1_digest(data: bytes) -> str:
    """Digest of a schema1 manifest as the registry computes it (payload only)."""
    return sha256_digest(schema1_payload(data))


def _pad(text: str) -> str:
    return text + "=" * (-len(text) % 4)


# ------------------------------------------------------------------ reading
def get_manifest(
    registry: Registry, repo: str, ref: str, accept: Sequence[str] = ALL_MANIFEST_TYPES
) -> httpx.Response:
    """GET a manifest (the response is fully read)."""
    with RegistryClient(registry) as c:
        return c.get_manifest(repo, ref, accept)


def get_manifest_raw(registry: Registry, repo: str, ref: str) -> bytes:
    """Raw manifest bytes, sending all six manifest media types in Accept."""
    r = get_manifest(registry, repo, ref)
    _check(r, 200)
    return r.content


def manifest_exists(registry: Registry, repo: str, ref: str) -> bool:
    """HEAD the manifest."""
    with RegistryClient(registry) as c:
        r = c.request(
            "HEAD",
            f"/v2/{repo}/manifests/{ref}",
            headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)},
        )
        return r.status_code == 200


def get_blob(registry: Registry, repo: str, digest: str) -> bytes:
    """Blob bytes (not verified)."""
    with RegistryClient(registry) as c:
        r = c.request("GET", f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
        _check(r, 200)
        return r.content


def blob_exists(registry: Registry, repo: str, digest: str) -> bool:
    """HEAD the blob."""
    with RegistryClient(registry) as c:
        return c.blob_exists(repo, digest)


def list_tags(registry: Registry, repo: str) -> list[str]:
    """Tags of ``repo`` (empty list if the repository is unknown)."""
    with RegistryClient(registry) as c:
        r = c.request("GET", f"/v2/{repo}/tags/list")
        if r.status_code == 404:
            return []
        _check(r, 200)
        return list(r.json().get("tags") or [])


def delete_manifest(registry: Registry, repo: str, digest: str) -> None:
    """DELETE a manifest by digest (needs ``delete_enabled``)."""
    with RegistryClient(registry) as c:
        _check(c.request("DELETE", f"/v2/{repo}/manifests/{digest}"), 202)


_INVERT = bytes(255 - i for i in range(256))


def corrupt_blob(registry: Registry, repo: str, digest: str) -> None:
    """Invert every byte of the blob's data file (same length, wrong content).

    ``repo`` is unused (blob storage is global) but kept for symmetry.
    """
    del repo
    path = registry.blob_path(digest)
    if not path.exists():
        raise FileNotFoundError(f"blob {digest} not in {registry.storage}")
    chunk = 1 << 20
    with path.open("r+b") as f:
        offset = 0
        while True:
            f.seek(offset)
            data = f.read(chunk)
            if not data:
                break
            f.seek(offset)
            f.write(data.translate(_INVERT))
            offset += len(data)
