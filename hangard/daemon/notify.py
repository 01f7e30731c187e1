"""systemd's ``sd_notify`` protocol: a datagram to ``$NOTIFY_SOCKET``.

No-op when not started by systemd. A leading ``@`` names an abstract socket.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify"]


def notify(*states: str) -> bool:
    """Send ``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=…``.

    Returns whether a message was sent.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    payload = "\n".join(states).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(payload)
        except OSError:
            return False
    return True
