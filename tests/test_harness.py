"""Tests of the test harness itself (real registries, token server, skopeo)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import RegistryFactory, TokenServerFactory
from tests.harness import images, skopeo
from tests.harness.authfile import AuthFiles
from tests.harness.images import (
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    PushError,
    RegistryClient,
)
from tests.harness.registry import Registry
from tests.harness.tokenserver import TokenServer, decode_jwt_claims, decode_jwt_header

REGISTRY_KINDS = ["plain_registry", "tls_registry", "basic_registry", "token_registry"]


def _v2(registry: Registry, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(verify=registry.verify, timeout=10) as c:
        return c.get(f"{registry.url}/v2/", headers=headers or {})


# ------------------------------------------------------------------ start-up
def test_plain_registries_are_independent(
    plain_registry: Registry, plain_registry2: Registry
) -> None:
    assert plain_registry.scheme == "http" and plain_registry.auth == "none"
    assert plain_registry.ca_file is None and plain_registry.username is None
    assert plain_registry.host != plain_registry2.host
    assert plain_registry.storage != plain_registry2.storage
    r = _v2(plain_registry)
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    images.push_oci_image(plain_registry, "only/here", "t")
    assert images.list_tags(plain_registry, "only/here") == ["t"]
    assert images.list_tags(plain_registry2, "only/here") == []


def test_tls_registry_needs_the_ca(tls_registry: Registry) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert tls_registry.ca_file and Path(tls_registry.ca_file).is_file()
    assert _v2(tls_registry).status_code == 200
    with httpx.Client(timeout=10) as c, pytest.raises(httpx.ConnectError):
        c.get(f"{tls_registry.url}/v2/")
    with httpx.Client(verify=tls_registry.verify, timeout=10) as c:
        assert c.get(f"https://localhost:{tls_registry.port}/v2/").status_code == 200


def test_basic_registry_challenge(basic_registry: Registry) -> None:
    assert basic_registry.scheme == "http"  # 2.8 does not insist on TLS for htpasswd
    r = _v2(basic_registry)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert basic_registry.username and basic_registry.password
    with httpx.Client(timeout=10) as c:
        ok = c.get(f"{basic_registry.url}/v2/", auth=(basic_registry.username, "wrong"))
        assert ok.status_code == 401
        ok = c.get(
            f"{basic_registry.url}/v2/",
            auth=(basic_registry.username, basic_registry.password),
        )
        assert ok.status_code == 200


def test_basic_registry_over_tls(registry_factory: RegistryFactory) -> None:
    reg = registry_factory("basic", tls=True, username="bob", password="pw")
    assert reg.scheme == "https"
    assert _v2(reg).status_code == 401
    with httpx.Client(verify=reg.verify, timeout=10) as c:
        assert c.get(f"{reg.url}/v2/", auth=("bob", "pw")).status_code == 200


def test_token_registry_challenge(token_registry: Registry, token_server: TokenServer) -> None:
    r = _v2(token_registry)
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    scheme, params = images.parse_challenge(challenge)
    assert scheme == "bearer"
    assert params == {"realm": token_server.realm, "service": token_registry.token_service}
    with httpx.Client(timeout=10) as c:
        body = c.get(
            params["realm"],
            params={"service": params["service"]},
            auth=(token_registry.username or "", token_registry.password or ""),
        ).json()
    assert _v2(token_registry, {"Authorization": f"Bearer {body['token']}"}).status_code == 200
    header = decode_jwt_header(body["token"])
    assert header["alg"] == "ES256" and len(header["x5c"]) == 1
    claims = decode_jwt_claims(body["token"])
    assert claims["aud"] == token_registry.token_service
    assert claims["iss"] == token_server.issuer
    assert claims["sub"] == "alice"
    assert {"exp", "nbf", "iat", "jti", "access"} <= claims.keys()


def test_registry_restart_keeps_port_and_content(plain_registry: Registry) -> None:
    img = images.push_oci_image(plain_registry, "keep/me", "v1")
    port, pid = plain_registry.port, plain_registry.proc and plain_registry.proc.pid
    plain_registry.restart()
    assert plain_registry.port == port
    assert plain_registry.proc is not None and plain_registry.proc.pid != pid
    assert images.get_manifest_raw(plain_registry, "keep/me", "v1") == img.manifest


def test_stop_really_stops(plain_registry: Registry) -> None:
    proc = plain_registry.proc
    assert proc is not None
    plain_registry.stop()
    assert proc.poll() is not None
    with pytest.raises(httpx.TransportError):
        _v2(plain_registry)
    plain_registry.start()
    assert _v2(plain_registry).status_code == 200


def test_access_log_counts_requests(plain_registry: Registry) -> None:
    img = images.push_schema2_image(plain_registry, "count/me", "v1")
    before = plain_registry.count_requests("GET", r"/manifests/")
    for _ in range(3):
        images.get_manifest_raw(plain_registry, "count/me", "v1")
    assert plain_registry.count_requests("GET", r"/manifests/") == before + 3
    assert plain_registry.count_requests("PUT", r"/manifests/v1$", 201) == 1
    entries = plain_registry.access_log()
    assert all(e.status < 500 for e in entries)
    assert any(e.path == f"/v2/count/me/blobs/{img.config.digest}" for e in entries)


# -------------------------------------------------------------- token server
def test_token_server_refuses_wrong_password(token_server: TokenServer) -> None:
    with httpx.Client(timeout=10) as c:
        r = c.get(
            token_server.realm,
            params={"service": "s", "scope": "repository:a/b:pull"},
            auth=("alice", "nope"),
        )
        assert r.status_code == 401
        r = c.get(token_server.realm, params={"service": "s"}, auth=("mallory", "x"))
        assert r.status_code == 401
    reqs = token_server.token_requests()
    assert [q.status for q in reqs] == [401, 401]
    assert all(q.had_credentials for q in reqs)


def test_token_server_grants(token_server: TokenServer) -> None:
    scope = "repository:lib/app:pull,push"
    with httpx.Client(timeout=10) as c:

        def access(auth: tuple[str, str] | None) -> list[dict[str, object]]:
            r = c.get(
                token_server.realm,
                params=[("service", "svc"), ("scope", scope), ("scope", "registry:catalog:*")],
                auth=auth,
            )
            assert r.status_code == 200
            body = r.json()
            assert body["token"] == body["access_token"]
            assert body["expires_in"] == token_server.expires_in
            assert body["issued_at"].endswith("Z")
            return list(decode_jwt_claims(body["token"])["access"])

        assert access(None) == [{"type": "repository", "name": "lib/app", "actions": ["pull"]}]
        assert access(("reader", "reader-secret")) == [
            {"type": "repository", "name": "lib/app", "actions": ["pull"]}
        ]
        assert access(("alice", "alice-secret")) == [
            {"type": "repository", "name": "lib/app", "actions": ["pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ]
    reqs = token_server.token_requests()
    assert [(q.had_credentials, q.username) for q in reqs] == [
        (False, None),
        (True, "reader"),
        (True, "alice"),
    ]
    assert reqs[0].scopes == [scope, "registry:catalog:*"] and reqs[0].service == "svc"


def test_token_server_anonymous_policy(token_server_factory: TokenServerFactory) -> None:
    closed = token_server_factory(anonymous_pull=False)
    refused = token_server_factory(anonymous_allowed=False)
    with httpx.Client(timeout=10) as c:
        q = {"service": "s", "scope": "repository:x:pull"}
        body = c.get(closed.realm, params=q).json()
        assert decode_jwt_claims(body["token"])["access"] == []
        assert c.get(refused.realm, params=q).status_code == 401


def test_token_registry_pull_rules(token_registry: Registry, token_server: TokenServer) -> None:
    img = images.push_oci_image(token_registry, "lib/app", "v1")
    # anonymous and reader can pull but not push
    for user, pw in [(None, None), ("reader", "reader-secret")]:
        with RegistryClient(token_registry, user, pw, anonymous=user is None) as c:
            r = c.get_manifest("lib/app", "v1")
            assert r.status_code == 200 and r.content == img.manifest
            assert c.request("POST", "/v2/lib/app/blobs/uploads/").status_code == 401
    assert any(q.username == "alice" for q in token_server.token_requests())


def test_token_expiry_leeway(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    """distribution 2.8 honours exp with 60 s leeway; exp_claim_offset=-60 removes it."""
    ts = TokenServer(tmp_path / "ts", users={"u": "p"}, expires_in=0).start()
    try:
        reg = registry_factory("token", token_server=ts, username="u")
        with httpx.Client(timeout=10) as c:
            q = {"service": reg.token_service}
            lenient = c.get(ts.realm, params=q).json()["token"]
            ts.exp_claim_offset = -61
            expired = c.get(ts.realm, params=q).json()["token"]
        assert _v2(reg, {"Authorization": f"Bearer {lenient}"}).status_code == 200
        assert _v2(reg, {"Authorization": f"Bearer {expired}"}).status_code == 401
        assert decode_jwt_claims(expired)["exp"] < time.time() - 60
    finally:
        ts.stop()


# ---------------------------------------------------------------- builders
def test_layers_are_real_gzip_tars() -> None:
    layer = images.make_layer(7, files=3, file_size=100)
    assert layer == images.make_layer(7, files=3, file_size=100)  # deterministic
    raw = gzip.decompress(layer.data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert len([m for m in tar.getmembers() if m.isfile()]) == 3
    img = images.build_image(3, layer_count=3, architecture="arm", variant="v7")
    cfg = json.loads(img.config.data)
    assert (cfg["architecture"], cfg["os"], cfg["variant"]) == ("arm", "linux", "v7")
    assert cfg["rootfs"]["diff_ids"] == [layer.diff_id for layer in img.layers]  # type: ignore[attr-defined]
    assert len(cfg["history"]) == 3
    assert all(h.get("created_by") and not h.get("empty_layer") for h in cfg["history"])


@pytest.mark.parametrize("kind", REGISTRY_KINDS)
@pytest.mark.parametrize("oci", [True, False], ids=["oci-index", "docker-list"])
def test_index_roundtrip_through_skopeo(
    kind: str, oci: bool, request: pytest.FixtureRequest
) -> None:
    registry: Registry = request.getfixturevalue(kind)
    index = images.push_index(
        registry, "multi/arch", images.build_index(11, oci=oci, attestations=oci), "v1"
    )
    raw = skopeo.inspect_raw(registry, "multi/arch", "v1")
    assert raw == index.manifest
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == index.digest
    parsed = json.loads(raw)
    assert parsed["mediaType"] == (OCI_INDEX if oci else DOCKER_MANIFEST_LIST)
    platforms = [
        (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))
        for m in parsed["manifests"]
    ]
    assert platforms[:3] == list(images.DEFAULT_PLATFORMS)
    if oci:
        atts = parsed["manifests"][3:]
        assert len(atts) == 3
        for att, child in zip(atts, index.children, strict=True):
            assert att["platform"] == {"architecture": "unknown", "os": "unknown"}
            assert att["annotations"] == {
                "vnd.docker.reference.digest": child.digest,
                "vnd.docker.reference.type": "attestation-manifest",
            }
    for child in index.all_manifests:
        child_raw = skopeo.inspect_raw(registry, "multi/arch", child.digest)
        assert child_raw == child.manifest
        assert json.loads(child_raw)["mediaType"] == (OCI_MANIFEST if oci else DOCKER_SCHEMA2)
    assert images.get_manifest_raw(registry, "multi/arch", index.digest) == index.manifest


def test_copy_to_dir_all(plain_registry: Registry, tmp_path: Path) -> None:
    index = images.push_oci_index(plain_registry, "multi/arch", "v1", seed=5, attestations=True)
    dest = skopeo.copy_to_dir(plain_registry, "multi/arch", "v1", tmp_path / "dir")
    assert (dest / "manifest.json").read_bytes() == index.manifest
    for child in index.all_manifests:
        assert (dest / f"{child.digest[7:]}.manifest.json").read_bytes() == child.manifest
        for blob in child.blobs:
            assert (dest / blob.digest[7:]).read_bytes() == blob.data


def test_skopeo_registry_to_registry_copy(tls_registry: Registry, basic_registry: Registry) -> None:
    index = images.push_docker_manifest_list(tls_registry, "src/img", "v1", seed=9)
    skopeo.copy(tls_registry, "src/img", "v1", basic_registry, "dst/img", "v2")
    assert images.get_manifest_raw(basic_registry, "dst/img", "v2") == index.manifest
    assert skopeo.list_tags(basic_registry, "dst/img") == ["v2"]


def test_schema1_builder(schema1_registry: Registry) -> None:
    s1 = images.push_schema1_image(schema1_registry, "old/style", seed=3, layer_count=3)
    doc = s1.parsed
    assert doc["schemaVersion"] == 1
    assert doc["signatures"] and len(doc["fsLayers"]) == len(doc["history"]) == 3
    assert len(s1.diff_ids) == 3
    assert s1.diff_ids == s1.source.diff_ids
    # fsLayers are newest first: they are the gzip layers in reverse order
    assert [f["blobSum"] for f in doc["fsLayers"]] == [
        layer.digest for layer in reversed(s1.source.layers)
    ]
    assert images.schema1_digest(s1.manifest) == s1.digest
    # 2.8 keeps only the payload and re-signs on every GET: bytes differ, payload doesn't
    raw = skopeo.inspect_raw(schema1_registry, "old/style", s1.tag)
    assert json.loads(raw)["schemaVersion"] == 1 and json.loads(raw)["signatures"]
    assert images.schema1_payload(raw) == images.schema1_payload(s1.manifest)
    assert images.schema1_digest(raw) == s1.digest
    r = images.get_manifest(schema1_registry, "old/style", s1.tag)
    assert r.headers["Content-Type"] == images.DOCKER_SCHEMA1_SIGNED
    assert r.headers["Docker-Content-Digest"] == s1.digest
    assert r.content != s1.manifest


def test_plain_registry_refuses_schema1_put(plain_registry: Registry) -> None:
    """Without compatibility.schema1 a signed schema1 PUT fails (2.8: 500 UNKNOWN)."""
    with pytest.raises(PushError):
        images.push_schema1_image(plain_registry, "old/style")


def test_blob_stream_and_big_image(token_registry: Registry) -> None:
    size = 3 * 1024 * 1024 + 17
    digest = images.push_blob_stream(token_registry, "big/blob", size, seed=1, chunk_size=65536)
    assert digest == images.stream_digest(size, 1)
    data = images.get_blob(token_registry, "big/blob", digest)
    assert len(data) == size and images.sha256_digest(data) == digest
    assert len(gzip.compress(data[:65536])) > 65536  # incompressible
    big = images.push_big_image(token_registry, "big/img", "v1", size, seed=2)
    raw = skopeo.inspect_raw(token_registry, "big/img", "v1")
    assert raw == big.manifest
    assert json.loads(raw)["layers"][0] == {
        "mediaType": images.OCI_LAYER_TAR,
        "digest": big.layer_digest,
        "size": size,
    }


def test_corrupt_blob(basic_registry: Registry) -> None:
    img = images.push_schema2_image(basic_registry, "bad/img", "v1", seed=4)
    layer = img.layers[0]
    images.corrupt_blob(basic_registry, "bad/img", layer.digest)
    data = images.get_blob(basic_registry, "bad/img", layer.digest)
    assert len(data) == layer.size
    assert data != layer.data and images.sha256_digest(data) != layer.digest


def test_delete_enabled(plain_registry: Registry) -> None:
    img = images.push_oci_image(plain_registry, "del/me", "v1")
    assert images.manifest_exists(plain_registry, "del/me", "v1")
    images.delete_manifest(plain_registry, "del/me", img.digest)
    assert not images.manifest_exists(plain_registry, "del/me", img.digest)


def test_tmp_authfile(tmp_authfile: AuthFiles) -> None:
    assert os.environ["DOCKER_CONFIG"] == str(tmp_authfile.docker_config_dir)
    assert os.environ["REGISTRY_AUTH_FILE"] == str(tmp_authfile.registry_auth_file)
    assert os.environ["XDG_RUNTIME_DIR"] == str(tmp_authfile.xdg_runtime_dir)
    assert json.loads(tmp_authfile.docker_config.read_text()) == {"auths": {}}
    tmp_authfile.add("127.0.0.1:5000", "u", "p")
    auths = json.loads(tmp_authfile.registry_auth_file.read_text())["auths"]
    assert auths["127.0.0.1:5000"] == {"auth": "dTpw"}
