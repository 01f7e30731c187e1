"""The copy engine's fallbacks, against real registries behind the deliberate
fake of ``tests.harness.faults`` (registry 2.8 accepts every monolithic upload
and never fails a blob GET on its own):

* a target that refuses a monolithic blob upload gets the blob again as a
  chunked upload (``PATCH`` + closing ``PUT``);
* ``RegistryOptions(chunk_size=...)`` uploads every blob in chunks of that size;
* a blob transfer that fails half way restarts from the beginning.

Blobs up to ``SMALL_BLOB_MAX`` (1 MiB) are read whole and uploaded as bytes;
every image here also has a 3 MiB layer, which is streamed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from hangard.copy import Copier, CopyResult
from hangard.copy.blobs import SMALL_BLOB_MAX
from hangard.errors import AuthError
from hangard.registry.options import RegistryOptions
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.faults import FaultProxy, SeenRequest
from tests.harness.images import Image, make_layer
from tests.harness.registry import Registry
from tests.helpers_copy import big_layer, image_with_layers, make_client, ref, uploads_of

pytestmark = pytest.mark.usefixtures("tmp_authfile")

BIG = (3 << 20) + 123  # streamed, and not a multiple of any chunk size used here
UPLOAD = r"/blobs/uploads/."  # an upload session (not the POST that opens one)
REFUSED_EVENT = "monolithic upload refused; using chunks"
RESTART_EVENT = "blob transfer failed, restarting"


@pytest.fixture
def image(plain_registry: Registry) -> Image:
    """``app:v1`` on the source: a 3 MiB layer, a small layer and the config."""
    layers = [big_layer(BIG, seed=1), make_layer(2, file_size=64 * 1024)]
    pushed = image_with_layers(layers, seed=3)
    assert pushed.layers[0].size > SMALL_BLOB_MAX >= pushed.layers[1].size
    return images.push_image(plain_registry, "app", pushed, "v1")


async def copy(
    src: Registry | FaultProxy,
    dst: Registry | FaultProxy,
    *,
    registries: tuple[Registry, ...],
    hosts: dict[str, RegistryOptions] | None = None,
    **client_kw: Any,
) -> CopyResult:
    """Copy ``src/app:v1`` to ``dst/copy:v1``. A fault proxy is no
    :class:`Registry`: it is plain HTTP unless ``hosts`` says otherwise."""
    proxies = {h.host: RegistryOptions(http=True) for h in (src, dst) if isinstance(h, FaultProxy)}
    async with make_client(*registries, hosts={**proxies, **(hosts or {})}, **client_kw) as client:
        return await Copier(client).copy(ref(src, "app", "v1"), ref(dst, "copy", "v1"))


def assert_copied(dst: Registry, image: Image, result: CopyResult) -> None:
    """The target holds the source's exact manifest and blobs, each uploaded
    (committed) once, and the result counts every blob as copied."""
    assert images.get_manifest_raw(dst, "copy", "v1") == image.manifest
    for blob in image.blobs:
        assert images.get_blob(dst, "copy", blob.digest) == blob.data
        assert uploads_of(dst, blob.digest) == 1
    assert result.digest_preserved
    assert result.blobs_copied == len(image.blobs)
    assert result.blobs_mounted == result.blobs_present == 0
    assert result.bytes_moved == sum(b.size for b in image.blobs)


def body_sizes(seen: list[SeenRequest], method: str) -> list[int]:
    return [
        int(r.headers.get("content-length", "0"))
        for r in seen
        if r.method == method and "/blobs/uploads/" in r.path
    ]


# ------------------------------------------------------------ chunked fallback
REFUSALS = {
    "405": (405, b""),
    "400-blob-upload-invalid": (
        400,
        {"errors": [{"code": "BLOB_UPLOAD_INVALID", "message": "monolithic uploads refused"}]},
    ),
    "413-plain-text": (413, b"Request Entity Too Large"),
    "unsupported-code": (
        422,
        {"errors": [{"code": "UNSUPPORTED", "message": "the operation is unsupported"}]},
    ),
}


@pytest.mark.parametrize(("status", "body"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_refused_monolithic_upload_is_sent_again_in_chunks(
    plain_registry: Registry,
    plain_registry2: Registry,
    image: Image,
    fault_proxy: FaultProxyFactory,
    status: int,
    body: bytes | dict[str, Any],
) -> None:
    """Deliberate fake: the proxy refuses every ``PUT`` that carries a body
    (a monolithic upload) without forwarding it, and lets the empty closing
    ``PUT`` of a chunked upload through."""
    src, dst = plain_registry, plain_registry2
    target = fault_proxy(dst)
    refused = target.fail(UPLOAD, status, method="PUT", times=None, min_body=1, body=body)

    with capture_logs() as logs:
        result = await copy(src, target, registries=(src,))

    assert_copied(dst, image, result)
    assert refused.hits == len(image.blobs)  # each blob tried monolithically once
    assert sorted(body_sizes(target.requests(), "PATCH")) == sorted(b.size for b in image.blobs)
    patches = [e.status for e in dst.access_log() if e.method == "PATCH"]
    assert patches == [202] * len(image.blobs)
    # no refused body reached the registry: its only upload PUTs are the closing ones
    assert dst.count_requests("PUT", r"/blobs/uploads/") == len(image.blobs)
    assert [e["event"] for e in logs].count(REFUSED_EVENT) == len(image.blobs)


async def test_a_refusal_that_is_not_about_the_upload_style_fails_the_copy(
    plain_registry: Registry,
    plain_registry2: Registry,
    image: Image,
    fault_proxy: FaultProxyFactory,
) -> None:
    """Deliberate fake: ``403 DENIED`` on the monolithic ``PUT`` is an answer
    about permissions; chunks would be refused too, so none are sent."""
    src, dst = plain_registry, plain_registry2
    target = fault_proxy(dst)
    denied = {"errors": [{"code": "DENIED", "message": "requested access is denied"}]}
    target.fail(UPLOAD, 403, method="PUT", times=None, min_body=1, body=denied)

    with pytest.raises(AuthError) as excinfo:
        await copy(src, target, registries=(src,))

    assert excinfo.value.code == "DENIED"
    assert target.count("PATCH") == 0
    assert dst.count_requests("PUT") == 0
    assert not images.manifest_exists(dst, "copy", "v1")


async def test_forced_chunk_size_uploads_every_blob_in_chunks(
    plain_registry: Registry,
    plain_registry2: Registry,
    image: Image,
    fault_proxy: FaultProxyFactory,
) -> None:
    """The proxy only records: no monolithic ``PUT`` is ever tried, and each
    ``PATCH`` carries at most ``chunk_size`` bytes."""
    src, dst = plain_registry, plain_registry2
    target = fault_proxy(dst)
    chunk = 1 << 20

    with capture_logs() as logs:
        result = await copy(
            src,
            target,
            registries=(src,),
            hosts={target.host: RegistryOptions(http=True, chunk_size=chunk)},
        )

    assert_copied(dst, image, result)
    big, small, config = image.layers[0], image.layers[1], image.config
    expected = [chunk, chunk, chunk, big.size - 3 * chunk, small.size, config.size]
    assert sorted(body_sizes(target.requests(), "PATCH")) == sorted(expected)
    assert body_sizes(target.requests(), "PUT") == [0] * len(image.blobs)
    assert [e.status for e in dst.access_log() if e.method == "PATCH"] == [202] * len(expected)
    assert REFUSED_EVENT not in [e["event"] for e in logs]


# ------------------------------------------------------------------- restarts
def assert_restarted_once(
    source: FaultProxy,
    dst: Registry,
    logs: Sequence[Mapping[str, Any]],
    digest: str,
    *,
    gets: int = 2,
) -> None:
    """The blob was fetched ``gets`` times, the upload opened for the first
    try was abandoned, and the transfer restarted once, blaming the source."""
    assert source.count("GET", rf"/blobs/{digest}$") == gets
    assert dst.count_requests("DELETE", r"/blobs/uploads/") == 1
    restarts = [e for e in logs if e["event"] == RESTART_EVENT]
    assert [(e["digest"], e["attempt"]) for e in restarts] == [(digest, 1)]
    assert f"registry {source.host}" in restarts[0]["error"]


CUTS = {
    # the 3 MiB layer streams into a monolithic PUT, or into PATCHes
    "big-streamed": (0, 1 << 20, None),
    "big-chunked": (0, 1 << 20, 1 << 20),
    # the 64 KiB layer is read whole before its upload starts
    "small-read-whole": (1, 1000, None),
}


@pytest.mark.parametrize(("layer", "after", "chunk_size"), CUTS.values(), ids=CUTS.keys())
async def test_blob_cut_off_mid_stream_is_copied_again_from_the_start(
    plain_registry: Registry,
    plain_registry2: Registry,
    image: Image,
    fault_proxy: FaultProxyFactory,
    layer: int,
    after: int,
    chunk_size: int | None,
) -> None:
    """Deliberate fake: the first GET of a layer sends its headers and
    ``after`` bytes of the body, then the connection closes."""
    src, dst = plain_registry, plain_registry2
    source = fault_proxy(src)
    blob = image.layers[layer]
    cut = source.cut(rf"/blobs/{blob.digest}$", after=after)

    with capture_logs() as logs:
        result = await copy(
            source,
            dst,
            registries=(dst,),
            hosts={dst.host: RegistryOptions(http=True, chunk_size=chunk_size)},
        )

    assert_copied(dst, image, result)
    assert cut.hits == 1
    assert_restarted_once(source, dst, logs, blob.digest)


@pytest.mark.parametrize("drop", [False, True], ids=["503", "dropped"])
async def test_blob_get_the_client_gives_up_on_is_copied_again_from_the_start(
    plain_registry: Registry,
    plain_registry2: Registry,
    image: Image,
    fault_proxy: FaultProxyFactory,
    drop: bool,
) -> None:
    """Deliberate fake: the first GET of the 3 MiB layer is answered 503, or
    its connection closes without an answer. With ``max_attempts=1`` the
    client does not retry the request itself; the transfer starts over.

    A GET whose reused keep-alive connection closes without an answer is
    sent again at once on a new one (RFC 9112 §9.3.1; aiohttp does it, as
    Go's net/http does for skopeo): the proxy drops that one too."""
    src, dst = plain_registry, plain_registry2
    source = fault_proxy(src)
    big = image.layers[0]
    unavailable = {"errors": [{"code": "UNAVAILABLE", "message": "try again later"}]}
    times = 2 if drop else 1
    failed = source.fail(
        rf"/blobs/{big.digest}$", 503, method="GET", body=unavailable, drop=drop, times=times
    )

    with capture_logs() as logs:
        result = await copy(source, dst, registries=(dst,), max_attempts=1)

    assert_copied(dst, image, result)
    assert failed.hits == times
    assert_restarted_once(source, dst, logs, big.digest, gets=times + 1)
