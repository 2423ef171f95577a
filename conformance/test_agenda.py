"""``Agenda``: collect calls, then ``scatter`` them evenly over time, on every target.

Pinned here: one call goes at ``start + over/2``; n calls at
``start + over*i/(n-1)``, both ends included; ``start`` defaults to the
docket's clock (never the wall clock); jitter moves a call by at most
``jitter`` either way and never to before ``start``; keys make a re-scatter a
no-op (ALREADY_SCHEDULED); an unknown task name raises UnknownTaskError with
nothing scheduled, even when earlier calls were fine; bad input raises
ValueError or TypeError naming the parameter and the value, from the call
that received it.  Times are exact: every test passes a whole-millisecond
``start`` or runs on a VirtualClock, so nothing depends on how fast it runs.
"""

from __future__ import annotations

import gc
import random
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from conformance.conftest import Target
from docket import Agenda, Disposition, ExecutionState, UnknownTaskError, VirtualClock, Worker

MS = timedelta(milliseconds=1)


async def job(n: int, *, label: str = "") -> int:
    """A task that accepts a number (and an optional label)."""
    return n


async def other(text: str) -> str:
    """A second task, so agendas can mix functions."""
    return text


def whole_ms(when: datetime) -> datetime:
    """``when`` without its sub-millisecond part, as docket stores times."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def start_for(target: Target) -> datetime:
    """A whole-millisecond start an hour ahead on the docket's clock (nothing comes due)."""
    return whole_ms(target.later(timedelta(hours=1)))


async def scheduled_times(docket: Any) -> list[tuple[str, datetime]]:
    """(key, when) of everything pending, in due order."""
    snapshot = await docket.snapshot()
    return [(execution.key, execution.when) for execution in snapshot.future]


@pytest.fixture
def seeded() -> Iterator[None]:
    """Seed the module-level ``random`` for one test and restore its state after."""
    state = random.getstate()
    random.seed(20240601)
    try:
        yield
    finally:
        random.setstate(state)


# -- spacing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "offsets"),
    [
        pytest.param(1, [21], id="one-in-the-middle"),
        pytest.param(2, [0, 42], id="two-at-both-ends"),
        pytest.param(3, [0, 21, 42], id="three"),
        pytest.param(4, [0, 14, 28, 42], id="four"),
        pytest.param(7, [0, 7, 14, 21, 28, 35, 42], id="seven"),
    ],
)
async def test_calls_are_spread_evenly_over_the_period(
    target: Target, count: int, offsets: list[int]
) -> None:
    """n calls over 42 s: the offsets from ``start`` are exactly as listed."""
    over = timedelta(seconds=42)
    async with target.docket() as docket:
        start = start_for(target)
        agenda = Agenda()
        for n in range(count):
            agenda.add(job, key=f"call-{n}")(n, label=f"#{n}")

        executions = await agenda.scatter(docket, over=over, start=start)

        expected = [start + timedelta(seconds=offset) for offset in offsets]
        assert [e.when for e in executions] == expected
        assert [e.key for e in executions] == [f"call-{n}" for n in range(count)]
        assert [e.args for e in executions] == [(n,) for n in range(count)]
        assert [e.kwargs for e in executions] == [{"label": f"#{n}"} for n in range(count)]
        assert all(e.function_name == "job" for e in executions)
        assert all(e.disposition is Disposition.SCHEDULED for e in executions)

        assert await scheduled_times(docket) == [
            (f"call-{n}", when) for n, when in enumerate(expected)
        ]
        stored = await docket.get_execution(f"call-{count - 1}")
        assert stored is not None
        assert stored.state is ExecutionState.SCHEDULED
        assert stored.when == expected[-1]


async def test_calls_keep_their_recording_order_across_functions(target: Target) -> None:
    """Mixed functions are scheduled in the order recorded, each at its own slot."""
    async with target.docket() as docket:
        start = start_for(target)
        agenda = Agenda()
        agenda.add(other, key="a")("first")
        agenda.add(job, key="b")(2)
        agenda.add(other, key="c")("third")

        executions = await agenda.scatter(docket, over=timedelta(minutes=2), start=start)

        assert [(e.function_name, e.args) for e in executions] == [
            ("other", ("first",)),
            ("job", (2,)),
            ("other", ("third",)),
        ]
        assert await scheduled_times(docket) == [
            ("a", start),
            ("b", start + timedelta(minutes=1)),
            ("c", start + timedelta(minutes=2)),
        ]


async def test_start_defaults_to_the_dockets_clock(target: Target) -> None:
    """Without ``start`` the docket's clock decides, here a VirtualClock years from the wall."""
    now = datetime(2031, 5, 6, 7, 8, 9, 10_000, tzinfo=timezone.utc)
    async with target.docket(clock=VirtualClock(start=now)) as docket:
        agenda = Agenda()
        agenda.add(job, key="first")(1)
        agenda.add(job, key="last")(2)

        executions = await agenda.scatter(docket, over=timedelta(hours=1))

        assert [e.when for e in executions] == [now, now + timedelta(hours=1)]
        assert await scheduled_times(docket) == [
            ("first", now),
            ("last", now + timedelta(hours=1)),
        ]


async def test_start_defaults_to_the_targets_clock_now(target: Target) -> None:
    """On the target's own clock: exact on a VirtualClock, between two readings otherwise."""
    async with target.docket() as docket:
        if target.virtual:
            # Move away from the wall clock, so only the docket's clock can give this time.
            target.clock.advance(timedelta(days=3))
        before = whole_ms(target.now())
        agenda = Agenda()
        agenda.add(job)(1)
        [execution] = await agenda.scatter(docket, over=timedelta(hours=2))
        after = target.now()

        if target.virtual:
            assert execution.when == before + timedelta(hours=1)
        else:
            assert before + timedelta(hours=1) <= execution.when <= after + timedelta(hours=1)


# -- jitter -------------------------------------------------------------------


async def test_jitter_stays_within_bounds_and_never_before_start(
    target: Target, seeded: None
) -> None:
    """Each call lands within ``jitter`` of its even slot, and never before ``start``."""
    over = timedelta(seconds=38)
    jitter = timedelta(seconds=5)
    async with target.docket() as docket:
        start = start_for(target)
        agenda = Agenda()
        for n in range(20):
            agenda.add(job, key=f"j{n}")(n)

        executions = await agenda.scatter(docket, over=over, start=start, jitter=jitter)

        slots = [start + timedelta(seconds=2 * n) for n in range(20)]
        stored = dict(await scheduled_times(docket))
        for n, (execution, slot) in enumerate(zip(executions, slots, strict=True)):
            assert execution.when >= start
            # Storage keeps whole milliseconds, hence the one-millisecond slack below.
            assert slot - jitter - MS <= execution.when <= slot + jitter
            assert stored[f"j{n}"] == execution.when
        assert any(abs(e.when - slot) > MS for e, slot in zip(executions, slots, strict=True))


@pytest.mark.parametrize(
    ("draw", "shift"),
    [
        pytest.param("lowest", -1, id="lowest-draw"),
        pytest.param("highest", 1, id="highest-draw"),
    ],
)
async def test_jitter_extremes_are_reached_and_clamped_at_start(
    target: Target, monkeypatch: pytest.MonkeyPatch, draw: str, shift: int
) -> None:
    """With ``random.uniform`` at an end of its range a call moves by exactly ``jitter``;
    moved to before ``start`` it is held at ``start``."""
    monkeypatch.setattr(random, "uniform", lambda a, b: a if draw == "lowest" else b)
    over = timedelta(seconds=30)
    jitter = timedelta(seconds=4)
    async with target.docket() as docket:
        start = start_for(target)
        agenda = Agenda()
        for n in range(4):
            agenda.add(job)(n)

        executions = await agenda.scatter(docket, over=over, start=start, jitter=jitter)

        slots = [start + timedelta(seconds=10 * n) for n in range(4)]
        expected = [max(start, slot + shift * jitter) for slot in slots]
        assert [e.when for e in executions] == expected
        assert [when for _, when in await scheduled_times(docket)] == expected


async def test_zero_jitter_keeps_the_even_slots(target: Target) -> None:
    """``jitter=timedelta(0)`` is no jitter at all."""
    async with target.docket() as docket:
        start = start_for(target)
        agenda = Agenda()
        for n in range(3):
            agenda.add(job)(n)
        executions = await agenda.scatter(
            docket, over=timedelta(seconds=10), start=start, jitter=timedelta(0)
        )
        assert [e.when for e in executions] == [
            start,
            start + timedelta(seconds=5),
            start + timedelta(seconds=10),
        ]


# -- keys, names, empty agendas ---------------------------------------------


async def test_scattering_again_under_the_same_keys_changes_nothing(target: Target) -> None:
    """Keys make a re-scatter idempotent: ALREADY_SCHEDULED, same times, nothing new."""
    async with target.docket() as docket:
        start = start_for(target)
        agenda = Agenda()
        for n in range(3):
            agenda.add(job, key=f"stable-{n}")(n)

        first = await agenda.scatter(docket, over=timedelta(minutes=10), start=start)
        before = await scheduled_times(docket)
        again = await agenda.scatter(
            docket, over=timedelta(hours=5), start=start + timedelta(days=1)
        )

        assert [e.disposition for e in first] == [Disposition.SCHEDULED] * 3
        assert [e.disposition for e in again] == [Disposition.ALREADY_SCHEDULED] * 3
        assert [e.key for e in again] == ["stable-0", "stable-1", "stable-2"]
        assert [e.when for e in again] == [e.when for e in first]
        assert await scheduled_times(docket) == before
        assert (await docket.snapshot()).total_tasks == 3


async def test_without_keys_each_scatter_schedules_afresh(target: Target) -> None:
    """No key: each call gets a fresh key, so scattering twice schedules twice."""
    async with target.docket() as docket:
        agenda = Agenda()
        agenda.add(job)(1)
        agenda.add(job)(2)
        first = await agenda.scatter(docket, over=timedelta(minutes=1), start=start_for(target))
        second = await agenda.scatter(docket, over=timedelta(minutes=1), start=start_for(target))
        keys = {e.key for e in first + second}
        assert len(keys) == 4
        assert (await docket.snapshot()).total_tasks == 4


async def test_an_empty_agenda_scatters_nothing(target: Target) -> None:
    """An empty agenda returns ``[]`` and schedules nothing."""
    async with target.docket() as docket:
        assert await Agenda().scatter(docket, over=timedelta(minutes=5)) == []
        assert (await docket.snapshot()).total_tasks == 0


async def test_registered_names_and_aliases_are_resolved(target: Target) -> None:
    """Calls recorded by name run the function registered under it."""
    async with target.docket() as docket:
        docket.register(job)
        docket.register(other, names=["shout"])
        agenda = Agenda()
        agenda.add("job", key="by-name")(5)
        agenda.add("shout", key="by-alias")("hey")

        executions = await agenda.scatter(
            docket, over=timedelta(seconds=10), start=start_for(target)
        )

        assert [(e.function_name, e.function) for e in executions] == [
            ("job", job),
            ("shout", other),
        ]
        stored = await docket.get_execution("by-alias")
        assert stored is not None
        assert stored.function_name == "shout"
        assert stored.args == ("hey",)


async def test_an_unknown_name_schedules_nothing_at_all(target: Target) -> None:
    """Valid calls before an unknown name are not scheduled either: all or nothing."""
    async with target.docket() as docket:
        agenda = Agenda()
        agenda.add(job, key="fine-1")(1)
        agenda.add(other, key="fine-2")("two")
        agenda.add("no_such_task", key="bad")(3)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                await agenda.scatter(docket, over=timedelta(minutes=1), start=start_for(target))
            except UnknownTaskError as error:
                refused: Exception = error
            else:
                pytest.fail("scatter accepted an unknown task name")
            message = str(refused)
            is_key_error = isinstance(refused, KeyError)
            # Drop the traceback (and the frames it holds) so that anything
            # scatter left unfinished is finalized, and would warn, right here.
            del refused
            gc.collect()

        assert is_key_error
        assert "no_such_task" in message
        assert (await docket.snapshot()).total_tasks == 0
        assert await docket.get_execution("fine-1") is None
        # The calls checked before the bad one are dropped cleanly, not left dangling.
        assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []

        docket.register(job, names=["no_such_task"])
        executions = await agenda.scatter(
            docket, over=timedelta(minutes=1), start=start_for(target)
        )
        assert [e.key for e in executions] == ["fine-1", "fine-2", "bad"]


async def test_arguments_a_task_cannot_take_schedule_nothing(target: Target) -> None:
    """A later call with arguments its task cannot accept: TypeError, nothing scheduled."""
    async with target.docket() as docket:
        agenda = Agenda()
        agenda.add(job, key="fine")(1)
        agenda.add(other, key="misfit")("one", "two", "three")

        with pytest.raises(TypeError, match="other"):
            await agenda.scatter(docket, over=timedelta(minutes=1), start=start_for(target))
        assert (await docket.snapshot()).total_tasks == 0


# -- the agenda itself -------------------------------------------------------


async def test_len_iteration_and_clear(target: Target) -> None:
    """An agenda counts and yields its recorded calls; ``clear`` forgets them."""
    agenda = Agenda()
    assert len(agenda) == 0
    assert list(agenda) == []

    agenda.add(job, key="k1")(1, label="one")
    agenda.add("other")("two")
    assert len(agenda) == 2
    recorded = [(c.function, c.args, dict(c.kwargs), c.key) for c in agenda]
    assert recorded == [
        (job, (1,), {"label": "one"}, "k1"),
        ("other", ("two",), {}, None),
    ]

    agenda.clear()
    assert len(agenda) == 0
    assert list(agenda) == []
    async with target.docket() as docket:
        assert await agenda.scatter(docket, over=timedelta(seconds=1)) == []
        assert (await docket.snapshot()).total_tasks == 0


async def test_an_agenda_can_be_scattered_to_two_dockets(target: Target) -> None:
    """Scattering does not consume the agenda: it is still there for the next docket."""
    agenda = Agenda()
    agenda.add(job, key="shared")(1)
    async with target.docket() as first, target.docket(name=f"{target.name}-b") as second:
        start = start_for(target)
        [a] = await agenda.scatter(first, over=timedelta(seconds=2), start=start)
        [b] = await agenda.scatter(second, over=timedelta(seconds=2), start=start)
        assert a.disposition is b.disposition is Disposition.SCHEDULED
        assert a.when == b.when == start + timedelta(seconds=1)
        assert len(agenda) == 1


# -- bad input ----------------------------------------------------------------

NAIVE = datetime(2030, 1, 2, 3, 4, 5)  # noqa: DTZ001  (deliberately naive)


@pytest.mark.parametrize(
    ("parameter", "value", "error"),
    [
        pytest.param("over", timedelta(0), ValueError, id="over-zero"),
        pytest.param("over", timedelta(seconds=-3), ValueError, id="over-negative"),
        pytest.param("over", 60, TypeError, id="over-a-number"),
        pytest.param("over", "10m", TypeError, id="over-a-string"),
        pytest.param("jitter", timedelta(seconds=-1), ValueError, id="jitter-negative"),
        pytest.param("jitter", 1.5, TypeError, id="jitter-a-number"),
        pytest.param("start", NAIVE, ValueError, id="start-naive"),
        pytest.param("start", "2030-01-02", TypeError, id="start-a-string"),
    ],
)
async def test_bad_scatter_arguments_are_refused(
    target: Target, parameter: str, value: Any, error: type[Exception]
) -> None:
    """Each bad argument: the named exception, naming the parameter and the value."""
    arguments: dict[str, Any] = {"over": timedelta(minutes=1), parameter: value}
    async with target.docket() as docket:
        empty = Agenda()
        full = Agenda()
        full.add(job)(1)
        for agenda in (full, empty):
            with pytest.raises(error) as raised:
                await agenda.scatter(docket, **arguments)
            message = str(raised.value)
            assert parameter in message
            assert repr(value) in message
        assert (await docket.snapshot()).total_tasks == 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(42, TypeError, id="a-number"),
        pytest.param(None, TypeError, id="none"),
        pytest.param(b"job", TypeError, id="bytes"),
        pytest.param("", ValueError, id="an-empty-name"),
    ],
)
async def test_add_refuses_what_is_neither_callable_nor_a_name(
    target: Target, value: Any, error: type[Exception]
) -> None:
    """``Agenda.add`` refuses it at once, naming the parameter and the value."""
    agenda = Agenda()
    with pytest.raises(error) as raised:
        agenda.add(value)
    assert "function" in str(raised.value)
    assert repr(value) in str(raised.value)
    assert len(agenda) == 0
    async with target.docket() as docket:
        assert await agenda.scatter(docket, over=timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    "key",
    [pytest.param(7, id="a-number"), pytest.param("", id="empty"), pytest.param(b"k", id="bytes")],
)
async def test_add_refuses_a_key_that_is_not_a_string(target: Target, key: Any) -> None:
    """A key must be a non-empty string, as for ``Docket.add``."""
    agenda = Agenda()
    with pytest.raises((ValueError, TypeError)) as raised:
        agenda.add(job, key=key)
    assert "key" in str(raised.value)
    assert repr(key) in str(raised.value)
    assert len(agenda) == 0
    async with target.docket() as docket:
        with pytest.raises((ValueError, TypeError), match="key"):
            docket.add(job, key=key)


# -- end to end ---------------------------------------------------------------


async def test_a_worker_runs_the_scattered_calls_in_order(target: Target) -> None:
    """A worker runs each scattered call once its time comes, in the agenda's order."""
    ran: list[tuple[str, datetime]] = []

    async def visit(page: str) -> str:
        ran.append((page, target.now()))
        return page.upper()

    # Ten minutes pass in no real time on a VirtualClock; the system clock gets a short span.
    over = timedelta(minutes=10) if target.virtual else timedelta(seconds=0.4)
    pages = ["home", "about", "pricing", "blog", "contact"]
    async with target.docket() as docket:
        docket.register(visit)
        agenda = Agenda()
        for n, page in enumerate(pages):
            # Alternate between the function and its registered name.
            agenda.add(visit if n % 2 else "visit", key=f"visit-{page}")(page)

        start = whole_ms(target.now())
        executions = await agenda.scatter(docket, over=over, start=start)
        assert [e.when for e in executions] == [start + over * n / 4 for n in range(5)]

        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished(), step=over / 20)

        assert [page for page, _ in ran] == pages
        for (_, ran_at), execution in zip(ran, executions, strict=True):
            assert ran_at >= execution.when - MS
        for execution, page in zip(executions, pages, strict=True):
            assert await target.wait(execution.get_result()) == page.upper()
            assert execution.state is ExecutionState.COMPLETED
        assert (await docket.snapshot()).total_tasks == 0
