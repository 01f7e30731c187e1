"""Per-registry and per-client settings for the registry client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from hangard.core.concurrency import MAX_CONCURRENCY
from hangard.core.reference import DEFAULT_REGISTRY
from hangard.registry.tls import CERTS_D_ROOTS

__all__ = ["ClientOptions", "CreateProjects", "HarborOptions", "RegistryOptions", "endpoint_host"]

#: ``auto``: create projects when ``GET /api/v2.0/ping`` says the registry is
#: Harbor; ``True``: it is Harbor, always; ``False``: never touch projects.
CreateProjects = Literal["auto"] | bool

_DOCKER_HUB_ENDPOINT = "registry-1.docker.io"


def endpoint_host(registry: str) -> str:
    """The host the API is served on (Docker Hub's differs from its name)."""
    return _DOCKER_HUB_ENDPOINT if registry == DEFAULT_REGISTRY else registry


@dataclass(frozen=True)
class HarborOptions:
    """Harbor projects (:mod:`hangard.registry.harbor`): created before the
    first push into them, private unless ``public``."""

    create_projects: CreateProjects = "auto"
    public: bool = False


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to one registry host."""

    tls_verify: bool = True
    ca_file: str | None = None
    cert_dir: str | None = None
    """A docker ``certs.d``-style directory (``*.crt`` CAs, ``client.cert`` +
    ``client.key``); ``None``: ``/etc/containers/certs.d/HOST[:PORT]`` or
    ``/etc/docker/certs.d/HOST[:PORT]`` when one exists
    (:mod:`hangard.registry.tls`)."""
    client_cert: str | None = None
    client_key: str | None = None
    """A client certificate and its key for mutual TLS (both or neither)."""
    http: bool = False
    """Plain HTTP. With ``tls_verify=False`` hangard also falls back to plain
    HTTP when the server does not speak TLS, as skopeo does."""
    max_concurrency: int = MAX_CONCURRENCY
    requests_per_second: float | None = None
    ratelimit_floor: int | None = None
    """Pause pulls while ``ratelimit-remaining`` is below this (Docker Hub)."""
    chunk_size: int | None = None
    """Force chunked uploads with this chunk size (bytes); ``None`` uploads
    monolithically and falls back to chunks only when the registry refuses."""
    timeout: float | None = None
    """Seconds one request to this registry may take: each attempt's deadline
    and its read timeout; ``None``: the client's ``request_timeout`` and
    ``read_timeout``."""
    retry_times: int | None = None
    """Retries after a failed attempt; ``None``: ``max_attempts - 1``."""
    retry_delay: float | None = None
    """The backoff base in seconds (the first retry waits up to this, each
    next one up to twice as long); ``None``: the client's ``backoff_base``."""
    harbor: HarborOptions = field(default_factory=HarborOptions)


@dataclass(frozen=True)
class ClientOptions:
    """Settings that apply to the whole client."""

    registries: Mapping[str, RegistryOptions] = field(default_factory=dict)
    default: RegistryOptions = field(default_factory=RegistryOptions)
    certs_d_roots: tuple[str, ...] = CERTS_D_ROOTS
    """Where per-host ``certs.d`` directories are looked for."""
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    connect_timeout: float = 15.0
    read_timeout: float = 120.0
    pool_timeout: float = 60.0
    """How long a request may wait for a free connection of the pool."""
    request_timeout: float = 60.0
    """The deadline of each attempt of a non-blob request, answer body
    included (a blob stream is bounded by its progress instead)."""
    blob_min_rate: float = 1024.0
    blob_rate_window: float = 60.0
    """A blob stream that moves fewer than ``blob_min_rate`` bytes per second
    over ``blob_rate_window`` seconds is aborted (a server trickling bytes)."""
    user_agent: str = "hangard"
    upload_chunk_size: int = 16 * 1024 * 1024
    max_unknown_blob_size: int = 10 * 1024**3
    """Cap on a blob whose size nothing declares (a schema1 layer sent
    without ``Content-Length``); past it the upload is cancelled."""

    def with_retries(self, times: int | None, delay: float | None) -> ClientOptions:
        """The same, with every registry's ``retry_times`` and ``retry_delay``
        replaced by those given (``--retry-times``, ``--retry-delay`` win over
        the config); ``None`` keeps each registry's own."""

        def tuned(options: RegistryOptions) -> RegistryOptions:
            return replace(
                options,
                retry_times=options.retry_times if times is None else times,
                retry_delay=options.retry_delay if delay is None else delay,
            )

        return replace(
            self,
            registries={host: tuned(o) for host, o in self.registries.items()},
            default=tuned(self.default),
        )

    def for_registry(self, registry: str) -> RegistryOptions:
        return self.registries.get(registry, self.default)

    def attempts_for(self, registry: str) -> int:
        """How many times a request to ``registry`` may be sent."""
        retries = self.for_registry(registry).retry_times
        return self.max_attempts if retries is None else retries + 1

    def backoff_base_for(self, registry: str) -> float:
        delay = self.for_registry(registry).retry_delay
        return self.backoff_base if delay is None else delay

    def request_timeout_for(self, registry: str) -> float:
        """The deadline of one attempt of a non-blob request to ``registry``."""
        timeout = self.for_registry(registry).timeout
        return self.request_timeout if timeout is None else timeout

    def read_timeout_for(self, registry: str) -> float:
        """The longest wait for the next bytes from ``registry``."""
        timeout = self.for_registry(registry).timeout
        return self.read_timeout if timeout is None else timeout
