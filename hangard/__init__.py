"""hangard: declarative, digest-preserving container image mirroring.

Where things live: :mod:`hangard.core` (pure values and decisions),
:mod:`hangard.registry` (talking to registries), :mod:`hangard.copy` (the
copy engine), :mod:`hangard.sync` (the one sync cycle), :mod:`hangard.config`
(the desired-state file), :mod:`hangard.daemon` (the service),
:mod:`hangard.cli` (parsing and printing). :mod:`hangard.errors` holds every
exception and the failure :class:`~hangard.errors.Reason`.
"""

from hangard._version import __version__

__all__ = ["__version__"]
