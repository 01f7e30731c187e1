"""hangard: declarative, digest-preserving container image mirroring."""

from hangard._version import __version__

__all__ = ["__version__"]
