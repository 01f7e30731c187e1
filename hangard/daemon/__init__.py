"""The long-running service (``hangard run``): lifecycle, config
generations, the scheduler, the recorder of item history and metrics, the
file watcher and the HTTP endpoints. The work of a cycle is
:mod:`hangard.sync`'s; nothing here prints."""

from hangard.daemon.service import Daemon

__all__ = ["Daemon"]
