"""Certificates per registry (:mod:`hangard.registry.tls`): docker's
``certs.d`` layout (``*.crt`` CAs, ``client.cert`` + ``client.key``), read
from ``--dest-cert-dir``, from the config's ``cert_dir`` / ``client_cert`` /
``client_key``, or by default from ``CERTS_D_ROOTS/HOST[:PORT]/``; mutual TLS
against a real registry configured with ``http.tls.clientcas``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
import yaml

from hangard.core.reference import Repository
from hangard.errors import ConfigError, TransportError
from hangard.registry.options import ClientOptions, RegistryOptions
from hangard.registry.tls import TlsSettings, certs_d_dir, ssl_context
from tests.conftest import RegistryFactory
from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import make_client


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    """The CA the mutual-TLS registry trusts for client certificates."""
    return trustme.CA()


@pytest.fixture
def mtls_registry(registry_factory: RegistryFactory, client_ca: trustme.CA) -> Registry:
    return registry_factory("tls", client_ca=client_ca)


def certs_d(directory: Path, registry: Registry, client: trustme.CA | None) -> Path:
    """A docker certs.d directory: the registry's CA as ``ca.crt`` and, when
    ``client`` is given, a ``client.cert`` + ``client.key`` it issued."""
    directory.mkdir(parents=True, exist_ok=True)
    assert registry.ca is not None
    registry.ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    if client is not None:
        leaf = client.issue_cert("hangard@localhost")
        leaf.cert_chain_pems[0].write_to_path(str(directory / "client.cert"))
        leaf.private_key_pem.write_to_path(str(directory / "client.key"))
    return directory


# --------------------------------------------------------------- the CLI
def test_copy_to_a_mutual_tls_registry_with_dest_cert_dir(
    plain_registry: Registry,
    mtls_registry: Registry,
    client_ca: trustme.CA,
    hangard: Hangard,
    tmp_path: Path,
) -> None:
    pushed = images.push_oci_image(plain_registry, "app", "v1", seed=1)
    src = f"docker://{plain_registry.host}/app:v1"
    dst = f"docker://{mtls_registry.host}/app:v1"
    ca_only = certs_d(tmp_path / "ca-only", mtls_registry, None)
    with_client = certs_d(tmp_path / "certs", mtls_registry, client_ca)

    refused = hangard("copy", "--src-plain-http", "--dest-cert-dir", str(ca_only), src, dst)
    copied = hangard("copy", "--src-plain-http", "--dest-cert-dir", str(with_client), src, dst)

    assert refused.code == 1, refused.err  # the CA alone: the registry wants a client cert
    assert copied.code == 0, copied.err
    assert images.get_manifest_raw(mtls_registry, "app", "v1") == pushed.manifest


def test_config_cert_dir_and_client_cert_keys_reach_the_registry(
    plain_registry: Registry,
    mtls_registry: Registry,
    client_ca: trustme.CA,
    hangard: Hangard,
    tmp_path: Path,
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=2)
    certs_d(tmp_path / "certs", mtls_registry, client_ca)
    by_dir = {"cert_dir": "certs"}  # relative to the config file
    by_files = {
        "ca_file": "certs/ca.crt",
        "client_cert": "certs/client.cert",
        "client_key": "certs/client.key",
    }
    runs = []
    for name, tls in (("dir", by_dir), ("files", by_files)):
        doc = {
            "registries": {plain_registry.host: {"http": True}, mtls_registry.host: tls},
            "targets": {"m": {"registry": mtls_registry.host, "prefix": name}},
            "defaults": {"targets": ["m"]},
            "images": [{"source": f"{plain_registry.host}/app", "tags": ["v1"]}],
        }
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump(doc))
        runs.append(hangard("sync", "--no-progress", str(config)))

    assert [r.code for r in runs] == [0, 0], [r.err for r in runs]
    assert images.manifest_exists(mtls_registry, "dir/app", "v1")
    assert images.manifest_exists(mtls_registry, "files/app", "v1")


def test_sync_list_and_inspect_take_cert_dirs(
    plain_registry: Registry,
    mtls_registry: Registry,
    client_ca: trustme.CA,
    hangard: Hangard,
    tmp_path: Path,
) -> None:
    pushed = images.push_oci_image(plain_registry, "app", "v1", seed=4)
    certs = str(certs_d(tmp_path / "certs", mtls_registry, client_ca))
    listing = tmp_path / "images.txt"
    listing.write_text(f"{plain_registry.host}/app:v1\n")

    synced = hangard(
        "sync", "--list", str(listing), "--to", f"{mtls_registry.host}/m",
        "--src-plain-http", "--dest-cert-dir", certs, "--no-progress",
    )  # fmt: skip
    shown = hangard(
        "inspect", "--raw", "--cert-dir", certs, f"docker://{mtls_registry.host}/m/app:v1"
    )

    assert synced.code == 0, synced.err
    assert shown.code == 0, shown.err
    assert shown.stdout == pushed.manifest


def test_client_cert_without_key_is_a_config_error(hangard: Hangard, tmp_path: Path) -> None:
    config = tmp_path / "h.yaml"
    config.write_text(
        "registries:\n  reg.example.com:\n    client_cert: c.pem\n"
        "targets:\n  m: {registry: reg.example.com}\n"
    )
    (tmp_path / "c.pem").write_text("")

    run = hangard("validate", str(config))

    assert run.code == 2
    assert f"{config}:2:3: client_cert and client_key go together: give both" in run.out


# ------------------------------------------------------ the default roots
async def test_default_certs_d_directories_are_read(
    mtls_registry: Registry, client_ca: trustme.CA, tmp_path: Path
) -> None:
    images.push_oci_image(mtls_registry, "app", "v1", seed=3)
    containers, docker = tmp_path / "containers", tmp_path / "docker"
    certs_d(docker / mtls_registry.host, mtls_registry, client_ca)
    repo = Repository(mtls_registry.host, "app")
    plain_tls = {mtls_registry.host: RegistryOptions()}  # nothing but the defaults

    async with make_client(hosts=plain_tls, certs_d_roots=(str(containers), str(docker))) as found:
        tags = await found.list_tags(repo)
    async with make_client(hosts=plain_tls, certs_d_roots=(str(containers),)) as none:
        with pytest.raises(TransportError):
            await none.list_tags(repo)

    assert tags == ["v1"]


def test_the_first_root_holding_the_host_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "containers", tmp_path / "docker"
    for root in (first, second):
        (root / "reg.example.com:5000").mkdir(parents=True)

    roots = (str(first), str(second))

    assert certs_d_dir("reg.example.com:5000", roots) == first / "reg.example.com:5000"
    assert certs_d_dir("reg.example.com", roots) is None  # the port is part of the name


# ----------------------------------------------------- the certs.d layout
def test_every_crt_is_a_ca_and_the_cert_key_pair_is_the_client(tmp_path: Path) -> None:
    for name in ("ca.crt", "extra.crt", "client.cert", "client.key", "README"):
        (tmp_path / name).write_text("")

    settings = TlsSettings.resolve("reg.example.com", cert_dir=str(tmp_path), ca_file="/x/ca.pem")

    assert settings.ca_files == ("/x/ca.pem", str(tmp_path / "ca.crt"), str(tmp_path / "extra.crt"))
    assert (settings.client_cert, settings.client_key) == (
        str(tmp_path / "client.cert"),
        str(tmp_path / "client.key"),
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (("client.cert",), "client.key is missing"),
        (("client.key",), "client.cert is missing"),
        (("a.cert", "a.key", "b.cert", "b.key"), "more than one client certificate (a, b)"),
    ],
)
def test_an_incomplete_certs_d_is_refused_by_name(
    tmp_path: Path, files: tuple[str, ...], message: str
) -> None:
    for name in files:
        (tmp_path / name).write_text("")

    with pytest.raises(ConfigError) as info:
        TlsSettings.resolve("reg.example.com", cert_dir=str(tmp_path))

    assert str(tmp_path) in info.value.message and message in info.value.message


def test_an_unloadable_client_certificate_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "client.cert").write_text("not a certificate")
    (tmp_path / "client.key").write_text("not a key")
    settings = TlsSettings.resolve("reg.example.com", cert_dir=str(tmp_path))

    with pytest.raises(ConfigError) as info:
        ssl_context(settings)

    assert f"cannot load client certificate {tmp_path / 'client.cert'}" in info.value.message


def test_client_options_default_to_the_system_roots() -> None:
    assert ClientOptions().certs_d_roots == ("/etc/containers/certs.d", "/etc/docker/certs.d")
