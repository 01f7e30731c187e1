"""hangard.aio: the event loop the CLI and the daemon run on."""

from __future__ import annotations

import asyncio

import pytest

from hangard import aio


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_loop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aio.ENV, raising=False)
    assert aio.loop_name() == "uvloop"
    assert aio.run(_loop_module()).startswith("uvloop")


@pytest.mark.parametrize("value", ["asyncio", " AsyncIO "])
def test_the_environment_can_choose_asyncios_own_loop(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(aio.ENV, value)
    assert aio.loop_name() == "asyncio"
    assert aio.run(_loop_module()).startswith("asyncio")


def test_run_returns_the_result_and_raises_the_error() -> None:
    async def fail() -> None:
        raise KeyError("x")

    async def answer() -> int:
        return 42

    assert aio.run(answer()) == 42
    with pytest.raises(KeyError):
        aio.run(fail())


def test_map_bounded_keeps_order_and_the_bound() -> None:
    running, most = 0, 0

    async def double(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)  # a yield, so others can start meanwhile
        await asyncio.sleep(0)
        running -= 1
        return n * 2

    assert aio.run(aio.map_bounded(double, range(100), limit=7)) == [n * 2 for n in range(100)]
    assert most == 7
    assert aio.run(aio.map_bounded(double, [])) == []


def test_map_bounded_raises_the_first_error_and_cancels_the_rest() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        if n == 3:
            raise ValueError("item 3")
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        except asyncio.CancelledError:
            cancelled.append(n)
            raise
        return n

    with pytest.raises(ValueError, match="item 3"):
        aio.run(aio.map_bounded(work, range(50), limit=5))
    assert sorted(started) == [0, 1, 2, 3, 4]  # no item starts after the error
    assert sorted(cancelled) == [0, 1, 2, 4]
