"""TLS for a registry: which CAs to trust and which client certificate to
present, and the one place where an :class:`ssl.SSLContext` is built (the
connection pools of :mod:`hangard.registry.pools` pass it on to whatever
HTTP transport they use).

Certificates come, for each registry origin ``HOST[:PORT]``, from:

* ``ca_file``: a PEM bundle of extra CAs;
* ``cert_dir`` (``--src-cert-dir``, config ``cert_dir``), or else the first
  of ``/etc/containers/certs.d/HOST[:PORT]/`` and
  ``/etc/docker/certs.d/HOST[:PORT]/`` that exists (the roots are
  :data:`CERTS_D_ROOTS`, replaceable for tests), in docker's ``certs.d``
  layout: every ``*.crt`` (``ca.crt`` among them) is a CA; ``NAME.cert``
  with ``NAME.key`` is a client certificate for mutual TLS (docker calls
  it ``client.cert`` + ``client.key``);
* ``client_cert`` + ``client_key``: a client certificate given directly
  (it replaces one found in the directory).

The system CA store is always trusted too, as docker and skopeo do.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hangard.errors import ConfigError

__all__ = ["CERTS_D_ROOTS", "TlsSettings", "certs_d_dir", "ssl_context"]

#: Where docker-style per-registry certificate directories live, in the
#: order they are searched.
CERTS_D_ROOTS: tuple[str, ...] = ("/etc/containers/certs.d", "/etc/docker/certs.d")


@dataclass(frozen=True)
class TlsSettings:
    """Everything an SSL context for one registry origin depends on (so
    origins with equal settings share a connection pool)."""

    verify: bool = True
    ca_files: tuple[str, ...] = ()
    client_cert: str | None = None
    client_key: str | None = None

    @classmethod
    def resolve(
        cls,
        origin: str,
        *,
        verify: bool = True,
        ca_file: str | None = None,
        cert_dir: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        roots: Sequence[str] = CERTS_D_ROOTS,
    ) -> TlsSettings:
        """The settings for ``origin`` (``HOST[:PORT]``): the explicit files
        over what ``cert_dir``, or else the origin's ``certs.d`` directory,
        holds. See the module docstring."""
        directory = Path(cert_dir) if cert_dir else certs_d_dir(origin, roots)
        cas: list[str] = []
        pair: tuple[str, str] | None = None
        if directory is not None:
            cas, pair = _read_certs_d(directory)
        if ca_file:
            cas.insert(0, ca_file)
        if client_cert or client_key:
            if not (client_cert and client_key):
                raise ConfigError(f"registry {origin}: client_cert and client_key go together")
            pair = (client_cert, client_key)
        return cls(verify, tuple(cas), *(pair or (None, None)))


def certs_d_dir(origin: str, roots: Sequence[str] = CERTS_D_ROOTS) -> Path | None:
    """The first ``ROOT/HOST[:PORT]`` directory that exists, or ``None``."""
    for root in roots:
        candidate = Path(root) / origin
        if candidate.is_dir():
            return candidate
    return None


def _read_certs_d(directory: Path) -> tuple[list[str], tuple[str, str] | None]:
    """The CAs (``*.crt``) and the client pair (``NAME.cert`` + ``NAME.key``)
    of a ``certs.d`` directory; :class:`ConfigError` when a ``.cert`` has no
    ``.key`` (or the other way round), or there are two pairs."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ConfigError(
            f"cannot read certificate directory {directory}: {exc.strerror}"
        ) from None
    cas = [str(directory / n) for n in names if n.endswith(".crt")]
    certs = {n.removesuffix(".cert") for n in names if n.endswith(".cert")}
    keys = {n.removesuffix(".key") for n in names if n.endswith(".key")}
    for lonely in sorted(certs ^ keys):
        missing = f"{lonely}.key" if lonely in certs else f"{lonely}.cert"
        raise ConfigError(
            f"{directory}: {missing} is missing: a client certificate needs "
            f"{lonely}.cert and {lonely}.key"
        )
    if len(certs) > 1:
        raise ConfigError(
            f"{directory}: more than one client certificate ({', '.join(sorted(certs))})"
        )
    pair = next(((str(directory / f"{n}.cert"), str(directory / f"{n}.key")) for n in certs), None)
    return cas, pair


def ssl_context(settings: TlsSettings) -> ssl.SSLContext | bool:
    """The context for ``settings`` (``False`` when not verifying and no
    client certificate is to be shown). Unreadable or malformed files raise
    :class:`ConfigError` naming the file."""
    if not settings.verify and settings.client_cert is None:
        return False
    ctx = ssl.create_default_context()
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for path in settings.ca_files if settings.verify else ():
        try:
            ctx.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA certificates from {path}: {exc}") from None
    if settings.client_cert is not None and settings.client_key is not None:
        try:
            ctx.load_cert_chain(settings.client_cert, settings.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load client certificate {settings.client_cert} "
                f"with key {settings.client_key}: {exc}"
            ) from None
    return ctx
