"""``codec="json"`` and ``max_payload_size``: work stored as JSON, and payloads kept small.

Pinned here, on every target: JSON arguments and results round-trip; ``add``
refuses anything that is not JSON (tuples included) with a TypeError naming
the argument and the task; a failed task's error comes back as its type
name and message; a worker of a JSON docket never unpickles, so a pickled
payload written through the engine is set aside without running code;
strikes work under JSON.  ``max_payload_size`` refuses a larger payload at
``add`` naming the size and the limit, and no log line carries a payload.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from conformance.conftest import Target
from docket import Disposition, Docket, ExecutionState, Worker
from docket.engines.base import TaskMessage
from docket.errors import ExecutionFailed
from docket.serialization import Codec, encode_call
from docket.timeutil import truncate_to_ms

executed: list[str] = []
ran: list[Any] = []


def ran_code(tag: str) -> str:
    """What unpickling a planted object calls: proof that code ran."""
    executed.append(tag)
    return tag


class Evil:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return ran_code, ("pickle",)


async def echo(value: Any, options: dict[str, Any] | None = None) -> dict[str, Any]:
    ran.append(value)
    return {"value": value, "options": options}


async def send(to: str, when: Any = None) -> None:
    ran.append(to)


async def fails() -> None:
    raise ValueError("boom")


async def returns_a_set() -> set[int]:
    return {1, 2}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_SIGNING_KEY", raising=False)
    executed.clear()
    ran.clear()


async def run_all(target: Target, docket: Docket) -> None:
    async with Worker(docket) as worker:
        await target.drive(worker.run_until_finished())


async def test_json_arguments_and_results_round_trip(target: Target) -> None:
    value = {"name": "ünïcode", "n": 3, "ratio": 0.5, "ok": True, "none": None, "list": [1, [2]]}
    async with target.docket(codec="json") as docket:
        execution = await docket.add(echo)(value, options={"retries": 2})
        assert (await docket.get_execution(execution.key)).args == (value,)  # type: ignore[union-attr]
        await run_all(target, docket)
        assert ran == [value]
        assert await execution.get_result() == {"value": value, "options": {"retries": 2}}


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda add: add("ann", when=datetime(2024, 1, 1, tzinfo=timezone.utc)), "'when'"),
        (lambda add: add("ann", datetime(2024, 1, 1, tzinfo=timezone.utc)), "'when'"),
        (lambda add: add(("a", "b")), "'to'"),
        (lambda add: add("ann", when={"nested": [1, {2}]}), "'when'"),
        (lambda add: add("ann", when={1: "int key"}), "'when'"),
        (lambda add: add("ann", when=float("nan")), "'when'"),
    ],
    ids=["datetime-kwarg", "datetime-positional", "tuple", "nested-set", "int-key", "nan"],
)
async def test_add_refuses_what_is_not_json_naming_the_argument(
    target: Target, call: Any, named: str
) -> None:
    async with target.docket(codec="json") as docket:
        with pytest.raises(TypeError) as raised:
            await call(docket.add(send))
        message = str(raised.value)
        assert f"argument {named} of task 'send'" in message and "is not JSON" in message
        assert (await docket.snapshot()).total_tasks == 0


async def test_add_names_the_type_that_is_not_json(target: Target) -> None:
    async with target.docket(codec="json") as docket:
        with pytest.raises(TypeError, match="argument 'when' of task 'send': datetime is not JSON"):
            await docket.add(send)("ann", when=datetime(2024, 1, 1, tzinfo=timezone.utc))


async def test_errors_come_back_as_type_and_message(target: Target) -> None:
    async with target.docket(codec="json") as docket:
        failed = await docket.add(fails)()
        unstorable = await docket.add(returns_a_set)()
        await run_all(target, docket)
        with pytest.raises(ExecutionFailed, match="ValueError: boom"):
            await failed.get_result()
        await unstorable.sync()
        assert unstorable.state is ExecutionState.FAILED
        with pytest.raises(ExecutionFailed, match="set is not JSON"):
            await unstorable.get_result()


async def test_a_json_worker_never_unpickles(target: Target) -> None:
    async with target.docket(codec="json") as docket:
        docket.register(send)
        now = truncate_to_ms(target.now())
        planted = TaskMessage(
            key="planted",
            function_name="send",
            payload=encode_call("send", (Evil(),), {}),
            when=now,
        )
        await docket.engine.schedule(planted, now, replace=False)
        await docket.add(send)("honest")
        await run_all(target, docket)
        assert ran == ["honest"] and executed == []
        [letter] = await docket.dead_letters()
        assert letter.key == "planted" and "cannot be decoded" in letter.reason
        execution = await docket.get_execution("planted")
        assert execution is not None and execution.args == ()
        assert executed == []


async def test_json_and_signing_together(target: Target) -> None:
    async with target.docket(codec="json", signing_key="k") as docket:
        execution = await docket.add(echo)([1, 2])
        await run_all(target, docket)
        assert await execution.get_result() == {"value": [1, 2], "options": None}
        forged = Codec("json").encode_call("echo", ([3],), {})
        now = truncate_to_ms(target.now())
        message = TaskMessage(key="forged", function_name="echo", payload=forged, when=now)
        await docket.engine.schedule(message, now, replace=False)
        await run_all(target, docket)
        assert ran == [[1, 2]]
        [letter] = await docket.dead_letters(reason="bad signature")
        assert letter.key == "forged"


async def test_strikes_under_json(target: Target) -> None:
    async with target.docket(codec="json") as docket:
        await docket.strike(send, "to", "==", "mallory")
        await docket.strike(echo, "value", "between", (1, 5))
        with pytest.raises(TypeError, match="datetime is not JSON"):
            await docket.strike(send, "when", "==", datetime(2024, 1, 1, tzinfo=timezone.utc))
        async with target.docket(codec="json") as other:
            assert len(other.strike_list) == 2
            assert (await other.add(send)("mallory")).disposition is Disposition.STRUCK
            assert (await other.add(echo)(3)).disposition is Disposition.STRUCK
            assert (await other.add(send)("ann")).disposition is Disposition.SCHEDULED
            await other.restore(echo, "value", "between", (1, 5))
        async with target.docket(codec="json") as third:
            assert len(third.strike_list) == 1


async def test_max_payload_size_refuses_a_larger_payload(target: Target) -> None:
    async with target.docket(max_payload_size=200) as docket:
        small = await docket.add(send)("x" * 10)
        assert small.disposition is Disposition.SCHEDULED
        with pytest.raises(ValueError) as raised:
            await docket.add(send)("x" * 500)
        message = str(raised.value)
        assert "task 'send'" in message and "max_payload_size 200 bytes" in message
        size = len(docket.codec.encode_call("send", ("x" * 500,), {}))
        assert f"is {size:,} bytes" in message
        assert (await docket.snapshot()).total_tasks == 1


@pytest.mark.parametrize("limit", [0, -1, 1.5, "10", True])
async def test_max_payload_size_must_be_a_positive_int(target: Target, limit: Any) -> None:
    with pytest.raises(ValueError, match=f"max_payload_size .*got {limit!r}"):
        target.docket(max_payload_size=limit)


async def test_no_log_line_carries_a_payload(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "PAYLOAD-MARKER-7f3a"
    async with target.docket(signing_key="k") as docket:
        docket.register(send)
        now = truncate_to_ms(target.now())
        for key, payload in {
            "unsigned": encode_call("send", (marker,), {}),
            "junk": marker.encode() * 3,
        }.items():
            message = TaskMessage(key=key, function_name="send", payload=payload, when=now)
            await docket.engine.schedule(message, now, replace=False)
        with caplog.at_level(logging.DEBUG):
            await run_all(target, docket)
            assert len(await docket.dead_letters()) == 2
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + (caplog.text if record.exc_info else "")
        assert marker not in text, text
    assert marker not in caplog.text
