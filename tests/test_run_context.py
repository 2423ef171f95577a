"""in_context: a coroutine driven inside its own context, within a longer-lived task."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Generator
from contextvars import ContextVar
from typing import Any

import pytest

from docket.worker.run_context import in_context

value: ContextVar[str] = ContextVar("value", default="outer")


async def awaited(awaitable: in_context) -> Any:
    return await awaitable


async def test_steps_run_in_the_given_context_and_the_task_keeps_its_own() -> None:
    async def body() -> str:
        value.set("inner")
        await asyncio.sleep(0)  # a bare yield
        await asyncio.sleep(0.001)  # a future
        return value.get()

    context = contextvars.copy_context()
    assert await in_context(body(), context) == "inner"
    assert context[value] == "inner"
    assert value.get() == "outer"


async def test_an_exception_propagates_after_an_await() -> None:
    class Boom(Exception):
        pass

    async def fails_after_await() -> None:
        await asyncio.sleep(0)
        raise Boom

    with pytest.raises(Boom):
        await in_context(fails_after_await(), contextvars.copy_context())


async def test_cancellation_is_thrown_in_inside_the_coroutines_context() -> None:
    started = asyncio.Event()
    seen: list[str] = []

    async def waits_forever() -> None:
        value.set("inner")
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(value.get())
            raise

    task = asyncio.create_task(awaited(in_context(waits_forever(), contextvars.copy_context())))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["inner"]


async def test_a_coroutine_may_catch_what_is_thrown_in_and_go_on() -> None:
    async def shrugs_off_cancellation() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(0)
        return "went on"

    task = asyncio.create_task(
        awaited(in_context(shrugs_off_cancellation(), contextvars.copy_context()))
    )
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "went on"


class Pause:
    """Suspends once, with no event loop needed."""

    def __await__(self) -> Generator[None, None, None]:
        yield


def test_closing_the_outer_coroutine_closes_the_inner_one() -> None:
    closed: list[bool] = []

    async def body() -> None:
        try:
            await Pause()
        finally:
            closed.append(True)

    outer = awaited(in_context(body(), contextvars.copy_context()))
    outer.send(None)  # suspended inside body
    outer.close()
    assert closed == [True]
