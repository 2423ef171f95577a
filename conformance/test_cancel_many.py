"""Cancelling in batches: ``Docket.cancel_many(keys, chunk_size=1000)`` (not in pydocket).

Pinned here: ``cancel_many`` does to each key what ``cancel`` would, in the
order given, ``chunk_size`` keys per round trip (None: one for all), and
returns one bool per key: True where this call cancelled that key's
scheduled, queued or running work (running work is interrupted and ends
CANCELLED, as with ``cancel``), False for unknown or ended work.  A key given
twice reads True then False, as two ``cancel`` calls would.  Every key and
``chunk_size`` is checked before anything is sent: a lone string, a key that
is not a non-empty string, or a chunk size below 1 raises, naming it, and
cancels nothing.  One PRODUCER span ``docket.cancel_many`` covers the batch
(``docket.count`` keys given, ``docket.cancelled`` how many it cancelled), and
``docket_tasks_cancelled`` counts each cancelled key, as for ``cancel``.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind

from conformance.conftest import Target
from conformance.test_telemetry import Telemetry, attributes, only, telemetry  # noqa: F401
from docket import Disposition, ExecutionCancelled, ExecutionState, Worker

RAN: list[str] = []


async def job(label: str) -> str:
    RAN.append(label)
    return label


async def test_scheduled_queued_and_unknown_keys(target: Target) -> None:
    RAN.clear()
    async with target.docket() as docket:
        later = await docket.add(job, when=target.later(3600), key="later")("later")
        now = await docket.add(job, key="now")("now")
        kept = await docket.add(job, key="kept")("kept")
        assert await docket.cancel_many(["later", "now", "never-added"]) == [True, True, False]
        for execution in (later, now):
            await execution.sync()
            assert execution.state is ExecutionState.CANCELLED
            assert execution.completed_at is not None
            with pytest.raises(ExecutionCancelled):
                await target.wait(execution.get_result())
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert RAN == ["kept"]
        # Work that has ended, cancelled or finished, is beyond reach.
        assert await docket.cancel_many(["later", "kept"]) == [False, False]
        await kept.sync()
        assert kept.state is ExecutionState.COMPLETED
        # A cancelled key is free for new work.
        again = await docket.add(job, key="now")("again")
        assert again.disposition is Disposition.SCHEDULED


async def test_cancel_many_interrupts_running_work(target: Target) -> None:
    started: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}
    interrupted: list[str] = []

    async def long_job(name: str) -> None:
        started[name].set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            interrupted.append(name)
            raise

    async with target.docket() as docket:
        a = await docket.add(long_job, key="a")("a")
        b = await docket.add(long_job, key="b")("b")
        waiting = await docket.add(job, when=target.later(3600), key="c")("c")
        async with target.running_worker(docket, concurrency=2):
            await target.wait(started["a"].wait())
            await target.wait(started["b"].wait())
            assert await docket.cancel_many(["a", "c", "b"]) == [True, True, True]
            # The record says CANCELLED as soon as cancel_many returns.
            for execution in (a, b, waiting):
                await execution.sync()
                assert execution.state is ExecutionState.CANCELLED
            for execution in (a, b):
                with pytest.raises(ExecutionCancelled):
                    await target.wait(execution.get_result())
            # The worker goes on with other work.
            follow_up = await docket.add(job, key="a")("follow-up")
            assert await target.wait(follow_up.get_result()) == "follow-up"
        assert sorted(interrupted) == ["a", "b"]


async def test_a_key_given_twice_is_cancelled_once(target: Target) -> None:
    async with target.docket() as docket:
        await docket.add(job, when=target.later(60), key="twice")("x")
        await docket.add(job, when=target.later(60), key="once")("y")
        assert await docket.cancel_many(["twice", "once", "twice"]) == [True, True, False]
        # The same across chunks.
        await docket.add(job, when=target.later(60), key="split")("z")
        assert await docket.cancel_many(["split", "split"], chunk_size=1) == [True, False]
        assert (await docket.snapshot()).total_tasks == 0


async def test_empty_and_large_batches(target: Target) -> None:
    async with target.docket() as docket:
        assert await docket.cancel_many([]) == []
        assert await docket.cancel_many(iter([]), chunk_size=None) == []
        keys = [f"k{n}" for n in range(250)]
        await docket.add_many(
            [docket.call(job, when=target.later(60), key=key)(key) for key in keys[::2]]
        )
        # A generator spanning three chunks, every other key unknown.
        result = await docket.cancel_many((key for key in keys), chunk_size=100)
        assert result == [n % 2 == 0 for n in range(250)]
        assert (await docket.snapshot()).total_tasks == 0
        await docket.add_many([docket.call(job, when=target.later(60), key=k)(k) for k in keys])
        assert await docket.cancel_many(keys, chunk_size=None) == [True] * 250
        assert (await docket.snapshot()).total_tasks == 0


async def test_bad_input_is_refused_before_anything_is_cancelled(target: Target) -> None:
    async with target.docket() as docket:
        kept = await docket.add(job, when=target.later(60), key="kept")("kept")
        with pytest.raises(ValueError, match=r"chunk_size.*0"):
            await docket.cancel_many(["kept"], chunk_size=0)
        with pytest.raises(ValueError, match=r"chunk_size.*-3"):
            await docket.cancel_many(["kept"], chunk_size=-3)
        with pytest.raises(ValueError, match=r"chunk_size.*'2'"):
            await docket.cancel_many(["kept"], chunk_size="2")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"keys.*42"):
            await docket.cancel_many(["kept", 42])  # type: ignore[list-item]
        with pytest.raises(TypeError, match=r"keys.*None"):
            await docket.cancel_many(["kept", None])  # type: ignore[list-item]
        with pytest.raises(ValueError, match=r"keys.*''"):
            await docket.cancel_many(["kept", ""])
        with pytest.raises(TypeError, match=r"keys.*'kept'"):
            await docket.cancel_many("kept")
        with pytest.raises(TypeError, match=r"keys.*7"):
            await docket.cancel_many(7)  # type: ignore[arg-type]
        await kept.sync()
        assert kept.state is ExecutionState.SCHEDULED


async def test_one_producer_span_and_a_count_per_cancelled_key(
    target: Target,
    telemetry: Telemetry,  # noqa: F811
) -> None:
    async with target.docket() as docket:
        for key in ("a", "b"):
            await docket.add(job, when=target.later(60), key=key)(key)
        assert await docket.cancel_many(["a", "x", "b", "a"], chunk_size=2) == [
            True,
            False,
            True,
            False,
        ]
    span = only(telemetry.named(docket.name, "docket.cancel_many"), "docket.cancel_many")
    assert span.kind is SpanKind.PRODUCER
    assert attributes(span)["docket.count"] == "4"
    assert attributes(span)["docket.cancelled"] == 2
    assert telemetry.total("docket_tasks_cancelled", docket.name) == 2
