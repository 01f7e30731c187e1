"""Registry credentials: CLI flags, Docker/Podman auth files, credential
helpers. :class:`CredentialStore` searches them (see
:mod:`~hangard.registry.credentials.store` for the order); secrets never
reach logs, error messages or ``repr``."""

from hangard.registry.credentials.helper import DEFAULT_HELPER_TIMEOUT
from hangard.registry.credentials.store import CREDENTIAL_TTL, CredentialStore
from hangard.registry.credentials.values import DOCKER_HUB_AUTH_KEY, Credentials, parse_user_pass

__all__ = [
    "CREDENTIAL_TTL",
    "DEFAULT_HELPER_TIMEOUT",
    "DOCKER_HUB_AUTH_KEY",
    "CredentialStore",
    "Credentials",
    "parse_user_pass",
]
