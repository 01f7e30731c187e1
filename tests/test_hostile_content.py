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
