"""Content a registry stores but hangard must not choke on: JSON nested too
deeply for Python, schema1 layers that are not gzip, manifest types hangard
cannot copy. Each is pushed to a real ``docker-registry`` and read back
through the ``hangard`` CLI: one error line and the right exit code, never a
traceback; ``inspect --raw`` prints any bytes."""

from __future__ import annotations

import json

import pytest

from hangard.core.manifest import parse_manifest
from hangard.errors import InvalidManifestError
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_SCHEMA1_SIGNED,
    OCI_MANIFEST,
    Blob,
    Image,
    build_manifest,
)
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard, Run
from tests.helpers_copy import blob_writes

PLAIN = ["--src-plain-http", "--dest-plain-http"]
#: Deeper than Python's json recursion limit, shallower than Go's (10,000),
#: so the registry stores it.
DEEP = 9000


def image(registry: Registry, repo: str, tag: str = "v1") -> str:
    return f"docker://{registry.host}/{repo}:{tag}"


def assert_one_error_line(run: Run, code: int, text: str) -> None:
    assert run.code == code, (run.out, run.err)
    assert "Traceback" not in run.err
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.err
    assert text in errors[0]


def push_deep_manifest(registry: Registry, repo: str, tag: str) -> bytes:
    """An OCI manifest whose extra field nests ``DEEP`` arrays."""
    base = images.push_oci_image(registry, repo, "base", seed=3)
    doc = json.loads(base.manifest)
    head = json.dumps(doc)[:-1]
    raw = (head + ', "x": ' + "[" * DEEP + "]" * DEEP + "}").encode()
    with images.RegistryClient(registry) as c:
        c.put_manifest(repo, tag, raw, OCI_MANIFEST)
    return raw


# ------------------------------------------------------------------ issue 9, item 10


def test_json_nested_100000_deep_is_an_invalid_manifest() -> None:
    raw = b'{"schemaVersion": 2, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    with pytest.raises(InvalidManifestError, match="nested too deeply"):
        parse_manifest(raw, image="r/x:y")


def test_deeply_nested_manifest_is_one_error_line(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    push_deep_manifest(plain_registry, "deep/app", "v1")

    copied, inspected = hangard.many(
        ["copy", *PLAIN, image(plain_registry, "deep/app"), image(plain_registry2, "deep/app")],
        ["inspect", "--plain-http", image(plain_registry, "deep/app")],
    )

    assert_one_error_line(copied, 1, "nested too deeply")
    assert_one_error_line(inspected, 1, "nested too deeply")
    assert blob_writes(plain_registry2) == 0


def push_schema1_with_plain_layer(registry: Registry, repo: str, tag: str) -> None:
    """A signed schema1 image whose one layer is not gzip (the registry
    converts a schema2 image with such a layer, never looking inside)."""
    layer = Blob(b"this is not gzip data " * 64, DOCKER_LAYER_GZIP)
    config = Blob(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
                "history": [{"created": images.CREATED, "created_by": "plain"}],
            }
        ).encode(),
        DOCKER_CONFIG,
    )
    manifest, media_type = build_manifest(config, [layer], oci=False)
    images.push_image(registry, repo, Image(manifest, media_type, config, [layer]), "schema2")
    with images.RegistryClient(registry) as c:
        got = c.get_manifest(repo, "schema2", accept=[DOCKER_SCHEMA1_SIGNED])
        assert json.loads(got.content)["schemaVersion"] == 1
        c.put_manifest(repo, tag, got.content, DOCKER_SCHEMA1_SIGNED)


def test_schema1_layer_that_is_not_gzip_is_one_error_line(
    schema1_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    push_schema1_with_plain_layer(schema1_registry, "old/app", "v1")

    run = hangard(
        "copy", *PLAIN, image(schema1_registry, "old/app"), image(plain_registry2, "old/app")
    )

    assert_one_error_line(run, 1, "is not gzip data")
    assert not images.manifest_exists(plain_registry2, "old/app", "v1")


# ------------------------------------------------------------------ issue 9, item 18

ARTIFACT_TYPE = "application/vnd.example.artifact.manifest.v1+json"


def artifact_manifest(registry: Registry, repo: str) -> bytes:
    """Bytes of an artifact manifest with a media type hangard cannot copy;
    its blobs are pushed to ``registry``."""
    blob = Blob(b"payload", "application/vnd.example.payload")
    images.push_blob(registry, repo, blob.data)
    doc = {"schemaVersion": 2, "mediaType": ARTIFACT_TYPE, "blobs": [blob.descriptor()]}
    return json.dumps(doc, indent=2).encode()


def test_inspect_raw_prints_an_oci_manifest_with_an_unknown_config_type(
    plain_registry: Registry, hangard: Hangard
) -> None:
    config = Blob(b"{}", "application/vnd.cncf.helm.config.v1+json")
    chart = Blob(b"chart", "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
    manifest, _ = build_manifest(config, [chart])
    images.push_image(plain_registry, "charts/app", Image(manifest, OCI_MANIFEST, config, [chart]))
    with images.RegistryClient(plain_registry) as c:
        c.put_manifest("charts/app", "v1", manifest, OCI_MANIFEST)

    run = hangard("inspect", "--raw", "--plain-http", image(plain_registry, "charts/app"))

    assert run.code == 0, run.err
    assert run.stdout == manifest


def test_inspect_raw_prints_any_media_type_and_copy_refuses_it(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    hangard: Hangard,
) -> None:
    # distribution 2.8 stores only the six image types, so a fake answers
    # the manifest GET; the blobs are real
    raw = artifact_manifest(plain_registry, "art/app")
    proxy = fault_proxy(plain_registry)
    proxy.fail(
        r"/v2/art/app/manifests/",
        200,
        method="GET",
        times=None,
        headers={"Content-Type": ARTIFACT_TYPE},
        body=raw,
    )
    src = f"docker://{proxy.host}/art/app"

    shown, by_digest, copied = hangard.many(
        ["inspect", "--raw", "--plain-http", f"{src}:v1"],
        ["inspect", "--raw", "--plain-http", f"{src}@{images.sha256_digest(raw)}"],
        ["copy", *PLAIN, f"{src}:v1", image(plain_registry2, "art/app")],
    )

    assert shown.code == 0, shown.err
    assert shown.stdout == raw
    assert by_digest.code == 0, by_digest.err
    assert by_digest.stdout == raw
    assert_one_error_line(copied, 1, f"unsupported MIME type '{ARTIFACT_TYPE}'")
    assert blob_writes(plain_registry2) == 0
