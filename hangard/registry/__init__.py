"""Talking to registries: the transport (pools, TLS, proxies, redirects,
retries, limits), authentication and credentials, and the protocol client.
Nothing here knows about plans, copies or the desired state."""

__all__: list[str] = []
