"""A registry's settings in the desired-state file (``registries: HOST:``):
credentials by reference, TLS, concurrency, rate and retry limits; and the
strict base every desired-state model uses. Pure."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from hangard.core.concurrency import MAX_CONCURRENCY

__all__ = ["Credentials", "HarborSettings", "IsInstance", "RegistrySettings", "StrictModel"]


class StrictModel(BaseModel):
    """Unknown keys are errors; values are frozen; field docstrings are the
    descriptions in the JSON Schema (``hangard schema``).

    :mod:`hangard.config.schema` reads those docstrings when it writes the
    schema. pydantic's ``use_attribute_docstrings`` would read and parse each
    model's source as the class is made: a tenth of every start that loads
    a config, for text only the schema shows."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class IsInstance:
    """``Annotated[T, IsInstance()]``: a field of a value hangard sets, not
    the file (``DesiredState.trust``), checked with ``isinstance`` alone.
    pydantic's ``InstanceOf`` also builds ``T``'s whole schema, for JSON
    input such a field never gets: for ``Trust``, its dataclasses down to
    the keys, whose type is :mod:`cryptography`'s, imported then at every
    start."""

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(source)


class Credentials(StrictModel):
    """Credentials by reference only: a secret never appears in the file."""

    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    docker_config: bool = False
    """Use the docker config / containers auth file / credential helper."""

    @model_validator(mode="after")
    def _one_source(self) -> Credentials:
        sources = [self.password_env is not None, self.password_file is not None]
        if self.docker_config and any(sources):
            raise ValueError("docker_config: true excludes password_env and password_file")
        if sum(sources) > 1:
            raise ValueError("give password_env or password_file, not both")
        if any(sources) and not self.username:
            raise ValueError("password_env/password_file need a username")
        if self.username and not any(sources) and not self.docker_config:
            raise ValueError("username needs password_env or password_file")
        return self


class HarborSettings(StrictModel):
    """Harbor projects for pushes into this registry: ``create_projects:
    auto`` (create them when ``/api/v2.0/ping`` says Harbor), ``true``
    (it is Harbor) or ``false`` (never); new projects are private unless
    ``public: true``."""

    create_projects: Literal["auto"] | bool = "auto"
    public: bool = False

    @field_validator("create_projects", mode="before")
    @classmethod
    def _check_mode(cls, value: object) -> object:
        if value == "auto" or isinstance(value, bool):
            return value
        raise ValueError(f"expected auto, true or false, got {value!r}")


class RegistrySettings(StrictModel):
    credentials: Credentials | None = None
    tls_verify: bool = True
    ca_file: str | None = None
    """A PEM bundle of CAs to trust beside the system's."""
    cert_dir: str | None = None
    """A docker ``certs.d``-style directory: ``*.crt`` CAs, ``client.cert`` +
    ``client.key`` for mutual TLS (default: ``/etc/containers/certs.d/HOST``
    or ``/etc/docker/certs.d/HOST`` when one exists)."""
    client_cert: str | None = None
    """A client certificate (PEM) for mutual TLS, with ``client_key``."""
    client_key: str | None = None
    """The private key (PEM) of ``client_cert``."""
    http: bool = False
    max_concurrency: int = Field(default=MAX_CONCURRENCY, ge=1, le=64)
    requests_per_second: float | None = Field(default=None, gt=0)
    ratelimit_floor: int | None = Field(default=None, ge=0)
    """Pause pulls while Docker Hub's ``ratelimit-remaining`` is below this."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds one request to this host may take (each attempt's deadline)."""
    retry_times: int | None = Field(default=None, ge=0, le=100)
    """Retries after a failed attempt (0: none)."""
    retry_delay: float | None = Field(default=None, gt=0, le=600)
    """Backoff base in seconds: the first retry waits up to this."""
    harbor: HarborSettings = Field(default_factory=HarborSettings)

    @model_validator(mode="after")
    def _client_pair(self) -> RegistrySettings:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together: give both")
        return self
