"""A dead letter keeps the whole message, for its retention, and can be replayed or purged.

Pinned here: a letter holds the task's name, key, arguments payload (byte for
byte as the producer encoded it), due time, attempt, reason, worker, delivery
and when it was set aside; it outlives its execution record; it is kept for
``dead_letter_retention`` on the docket's clock and then reads as absent.
``dead_letters`` filters by task (exactly) and reason (substring);
``replay_dead_letter`` schedules the message again (now or later, same or
new key) and removes the letter; ``purge_dead_letters`` removes one, those a
filter matches, or all.  Bad input is refused naming the parameter and value.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from conformance.conftest import Target, assert_refused_naming
from docket import Disposition, Docket, ExecutionState, Worker
from docket.dead_letters import decode_arguments
from docket.serialization import encode_call
from docket.timeutil import truncate_to_ms


def span_for(target: Target) -> timedelta:
    """A day on a VirtualClock (costs nothing), half a second on the system clock."""
    return timedelta(days=1) if target.virtual else timedelta(seconds=0.5)


ran: list[tuple[str, tuple[object, ...], dict[str, object]]] = []


async def charge(order_id: int, note: str = "") -> None:
    """Known to the producer; the first worker does not know it."""
    ran.append(("charge", (order_id,), {"note": note}))


async def refund(order_id: int) -> None:
    """Another task the first worker does not know."""
    ran.append(("refund", (order_id,), {}))


@pytest.fixture(autouse=True)
def forget_runs() -> None:
    ran.clear()


async def set_aside_unknown(target: Target, docket: Docket) -> str:
    """Run a worker that knows none of the tasks, so it sets everything due aside.

    One run at a time, so letters are set aside in the order the work was added.
    """
    async with Worker(docket, concurrency=1, unknown_task_grace=timedelta(0)) as worker:
        await target.drive(worker.run_until_finished())
        return worker.name


async def test_a_letter_holds_the_whole_message(target: Target) -> None:
    async with target.docket() as producer, target.docket() as consumer:
        execution = await producer.add(charge, key="order-7")(7, note="x" * 1000)
        before = truncate_to_ms(target.now())
        worker_name = await set_aside_unknown(target, consumer)
        after = target.now()

        [letter] = await consumer.dead_letters()
        assert letter.id
        assert (letter.key, letter.function_name, letter.attempt) == ("order-7", "charge", 1)
        assert letter.payload == encode_call("charge", (7,), {"note": "x" * 1000})
        assert decode_arguments(letter) == ((7,), {"note": "x" * 1000})
        assert letter.when == execution.when
        assert "unknown task 'charge'" in letter.reason
        assert letter.worker == worker_name
        assert letter.delivery
        assert before <= letter.set_aside_at <= after
        assert letter.expires_at == letter.set_aside_at + timedelta(days=7)
        assert await producer.dead_letter(letter.id) == letter


async def test_a_letter_outlives_its_execution_record(target: Target) -> None:
    ttl = span_for(target)
    async with target.docket() as producer, target.docket(execution_ttl=ttl) as consumer:
        await producer.add(charge, key="order-8")(8)
        await set_aside_unknown(target, consumer)
        assert (await consumer.get_execution("order-8")) is not None

        await target.elapse(ttl + timedelta(milliseconds=100))
        assert await consumer.get_execution("order-8") is None
        [letter] = await consumer.dead_letters()
        assert decode_arguments(letter) == ((8,), {})


async def test_letters_are_dropped_after_their_retention(target: Target) -> None:
    retention = span_for(target)
    async with (
        target.docket() as producer,
        target.docket(dead_letter_retention=retention) as consumer,
    ):
        await producer.add(charge, key="old")(1)
        await set_aside_unknown(target, consumer)
        [old] = await consumer.dead_letters()
        assert old.expires_at == old.set_aside_at + retention

        await target.elapse(retention + timedelta(milliseconds=100))
        assert await consumer.dead_letters() == []
        assert await consumer.dead_letter(old.id) is None
        with pytest.raises(ValueError, match=old.id):
            await consumer.replay_dead_letter(old.id)

        await producer.add(charge, key="new")(2)
        await set_aside_unknown(target, consumer)
        assert [letter.key for letter in await consumer.dead_letters()] == ["new"]
        # Setting the new letter aside dropped the old one for good.
        assert await consumer.purge_dead_letters(old.id) == 0


async def test_letters_are_listed_by_task_and_by_reason(target: Target) -> None:
    async with target.docket() as producer, target.docket() as consumer:
        await producer.add(charge, key="c1")(1)
        await producer.add(refund, key="r1")(2)
        await producer.add(charge, key="c2")(3)
        await set_aside_unknown(target, consumer)

        assert [d.key for d in await consumer.dead_letters()] == ["c1", "r1", "c2"]
        assert [d.key for d in await consumer.dead_letters(limit=2)] == ["r1", "c2"]
        assert [d.key for d in await consumer.dead_letters(task="charge")] == ["c1", "c2"]
        assert [d.key for d in await consumer.dead_letters(task="charge", limit=1)] == ["c2"]
        assert [d.key for d in await consumer.dead_letters(task="char")] == []
        assert [d.key for d in await consumer.dead_letters(reason="'refund'")] == ["r1"]
        assert len(await consumer.dead_letters(reason="unknown task")) == 3
        assert await consumer.dead_letters(reason="Unknown Task") == []
        assert await consumer.dead_letters(task="refund", reason="'charge'") == []


async def test_replaying_now_runs_the_task_with_its_arguments(target: Target) -> None:
    async with target.docket() as producer, target.docket() as consumer:
        await producer.add(charge, key="order-9")(9, note="again")
        await set_aside_unknown(target, consumer)
        [letter] = await producer.dead_letters()

        replayed = await producer.replay_dead_letter(letter)
        assert replayed.disposition is Disposition.SCHEDULED
        assert (replayed.key, replayed.function_name, replayed.attempt) == ("order-9", "charge", 1)
        assert await producer.dead_letters() == []

        consumer.register(charge)
        async with Worker(consumer) as worker:
            await target.drive(worker.run_until_finished())
        assert ran == [("charge", (9,), {"note": "again"})]
        await replayed.sync()
        assert replayed.state is ExecutionState.COMPLETED


async def test_replaying_later_under_a_new_key(target: Target) -> None:
    delay = timedelta(hours=1) if target.virtual else timedelta(seconds=0.3)
    async with target.docket() as producer, target.docket() as consumer:
        await producer.add(refund, key="refund-4")(4)
        await set_aside_unknown(target, consumer)
        [letter] = await producer.dead_letters()

        when = target.later(delay)
        replayed = await producer.replay_dead_letter(letter.id, when=when, key="refund-4b")
        assert (replayed.key, replayed.when) == ("refund-4b", truncate_to_ms(when))
        assert replayed.state is ExecutionState.SCHEDULED
        assert await producer.dead_letter(letter.id) is None

        consumer.register(refund)
        async with Worker(consumer) as worker:
            await target.drive(worker.run_until_finished(), step=delay / 10)
        assert ran == [("refund", (4,), {})]
        assert target.now() >= when
        found = await producer.get_execution("refund-4b")
        assert found is not None and found.state is ExecutionState.COMPLETED


async def test_replaying_onto_a_live_key_schedules_nothing_and_keeps_the_letter(
    target: Target,
) -> None:
    async with target.docket() as producer, target.docket() as consumer:
        await producer.add(charge, key="busy")(1)
        await set_aside_unknown(target, consumer)
        [letter] = await producer.dead_letters()
        await producer.add(charge, key="busy", when=target.later(timedelta(days=1)))(2)

        replayed = await producer.replay_dead_letter(letter)
        assert replayed.disposition is Disposition.ALREADY_SCHEDULED
        assert await producer.dead_letters() == [letter]
        await producer.cancel("busy")


async def test_purging_one_by_filter_and_all(target: Target) -> None:
    async with target.docket() as producer, target.docket() as consumer:
        for index, task in enumerate([charge, refund, charge, refund, charge]):
            await producer.add(task, key=f"k{index}")(index)
        await set_aside_unknown(target, consumer)
        letters = await producer.dead_letters()
        assert [d.key for d in letters] == ["k0", "k1", "k2", "k3", "k4"]

        assert await producer.purge_dead_letters(letters[0]) == 1
        assert await producer.purge_dead_letters(letters[0].id, "no-such-letter") == 0
        assert await producer.purge_dead_letters(task="refund") == 2
        assert [d.key for d in await producer.dead_letters()] == ["k2", "k4"]
        assert await producer.purge_dead_letters(reason="nothing like this") == 0
        assert await producer.purge_dead_letters(everything=True) == 2
        assert await producer.dead_letters() == []


async def test_bad_input_is_refused_naming_it(target: Target) -> None:
    for bad, error in ((timedelta(0), ValueError), (timedelta(seconds=-1), ValueError)):
        assert_refused_naming(
            lambda bad=bad: target.docket(dead_letter_retention=bad),
            error,
            ["dead_letter_retention", repr(bad)],
        )
    assert_refused_naming(
        lambda: target.docket(dead_letter_retention="a week"),
        TypeError,
        ["dead_letter_retention", "'a week'"],
    )
    async with target.docket() as producer, target.docket() as consumer:
        await producer.add(charge, key="order-1")(1)
        await set_aside_unknown(target, consumer)
        [letter] = await producer.dead_letters()

        with pytest.raises(ValueError, match=r"letter '0-0'.*no such dead letter"):
            await producer.replay_dead_letter("0-0")
        with pytest.raises(ValueError, match="letter must be"):
            await producer.replay_dead_letter("")
        with pytest.raises(ValueError, match="when must be timezone-aware"):
            await producer.replay_dead_letter(letter, when=target.now().replace(tzinfo=None))
        with pytest.raises(TypeError, match="when must be a datetime, got 'soon'"):
            await producer.replay_dead_letter(letter, when="soon")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="key must be a non-empty string, got ''"):
            await producer.replay_dead_letter(letter, key="")
        with pytest.raises(ValueError, match="limit must be a positive integer, got 0"):
            await producer.dead_letters(limit=0)
        with pytest.raises(ValueError, match="task must be a non-empty string"):
            await producer.dead_letters(task="")
        with pytest.raises(ValueError, match="exactly one of"):
            await producer.purge_dead_letters()
        with pytest.raises(ValueError, match="exactly one of"):
            await producer.purge_dead_letters(letter, everything=True)
        assert await producer.dead_letters() == [letter]


async def test_log_lines_cap_long_values_and_the_letter_keeps_them(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    long_name = "task_" + "x" * 1000
    caplog.set_level(logging.WARNING, logger="docket")
    async with target.docket() as producer, target.docket() as consumer:
        producer.register(charge, names=[long_name])
        await producer.add(long_name, key="long")(1)
        await set_aside_unknown(target, consumer)
        [letter] = await consumer.dead_letters()
        assert letter.function_name == long_name
        assert long_name in letter.reason

    [line] = [r.getMessage() for r in caplog.records if "setting it aside" in r.getMessage()]
    assert "…" in line and long_name not in line
    assert len(line) < 400
