"""``sd_notify``: :func:`hangard.daemon.notify.notify` (the daemon's side is
in ``test_daemon.py``)."""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangard.daemon.notify import notify


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket on a path, named by ``NOTIFY_SOCKET``."""
    path = tmp_path / "notify.sock"
    assert len(str(path)) < 100, "AF_UNIX paths are limited to 108 bytes"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def pending(sock: socket.socket) -> bytes | None:
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return None
    finally:
        sock.settimeout(5)


def test_sends_the_states_as_one_datagram(listener: socket.socket) -> None:
    assert notify("READY=1", "STATUS=watching 3 images") is True
    assert listener.recv(65536) == b"READY=1\nSTATUS=watching 3 images"
    assert notify("STOPPING=1") is True
    assert listener.recv(65536) == b"STOPPING=1"


def test_nothing_to_say_sends_nothing(listener: socket.socket) -> None:
    assert notify() is False
    assert pending(listener) is None


@pytest.mark.parametrize("value", [None, ""])
def test_without_notify_socket_it_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert notify("READY=1") is False


@pytest.mark.skipif(sys.platform != "linux", reason="abstract sockets are Linux only")
def test_a_leading_at_names_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"hangard-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("RELOADING=1") is True
        assert sock.recv(65536) == b"RELOADING=1"


def test_an_unreachable_socket_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", f"@hangard-test-nobody-{uuid.uuid4().hex}")
    assert notify("READY=1") is False


def test_a_stream_socket_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stream.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        sock.listen()
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("READY=1") is False
