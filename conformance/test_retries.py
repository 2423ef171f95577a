"""Retries: ``Retry``, ``Retry.forever``, ``ExponentialRetry``, forced retries.

Pinned here (``test_errors.py`` has the basics of ``Retry``): the guide's
``flaky_api_call`` runs as written; every retry is due exactly its delay after
the failure that caused it, on the docket's clock, so hour-long delays pass in
moments under a ``VirtualClock``; ``ExponentialRetry`` waits ``minimum_delay``,
then twice that, and so on, capped at ``maximum_delay``; a retry runs under
the same key with the same arguments and the next ``attempt`` (1-based); after
the last attempt the execution is FAILED and ``get_result()`` re-raises the
task's own exception, while a ``get_result()`` awaited from the start follows
the retries to the end.  ``retry.after(delay)`` and ``retry.at(when)`` end the
attempt at once and retry then; forced retries count against ``attempts``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from conformance.conftest import Target
from docket import (
    CurrentExecution,
    Execution,
    ExecutionState,
    ExponentialRetry,
    Retry,
    TaskKey,
    Worker,
)

MS = timedelta(milliseconds=1)
"""Stored times are kept to the millisecond, so a due time may read up to 1 ms early."""

LONG_TTL = timedelta(days=30)
"""Records outlive any virtual jump here, so reading an outcome never races its expiry."""


class UpstreamError(Exception):
    """A task's own exception type, with data that must survive storage."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status

    def __str__(self) -> str:
        return f"upstream answered {self.status}"


# -- the guide's example, as written, with a fake http_client ------------------


@dataclass
class FakeResponse:
    status_code: int


@dataclass
class FakeHttpClient:
    """Answers each ``get`` with the next status code; notes when it was asked."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, datetime]] = field(default_factory=list)
    target: Target | None = None

    def reset(self, target: Target, statuses: list[int]) -> None:
        self.target = target
        self.statuses = list(statuses)
        self.requests = []

    async def get(self, url: str) -> FakeResponse:
        assert self.target is not None
        self.requests.append((url, self.target.now()))
        await asyncio.sleep(0)
        return FakeResponse(self.statuses.pop(0))


http_client = FakeHttpClient()


# fmt: off
async def flaky_api_call(
    url: str,
    retry: Retry = Retry(attempts=3, delay=timedelta(seconds=5))
) -> None:
    # This will retry up to 3 times with 5 seconds between each attempt
    response = await http_client.get(url)
    if response.status_code != 200:
        raise Exception(f"API returned {response.status_code}")

    print(f"Success on attempt {retry.attempt}")
# fmt: on


async def quick_flaky_api_call(
    url: str, retry: Retry = Retry(attempts=3, delay=timedelta(seconds=0.2))
) -> None:
    """The guide's example with a delay short enough for the system clock."""
    response = await http_client.get(url)
    if response.status_code != 200:
        raise Exception(f"API returned {response.status_code}")

    print(f"Success on attempt {retry.attempt}")


@pytest.mark.parametrize(
    "task, delay",
    [
        pytest.param(flaky_api_call, timedelta(seconds=5), id="as-written"),
        pytest.param(quick_flaky_api_call, timedelta(seconds=0.2), id="short-delay"),
    ],
)
async def test_the_guides_retry_example(
    target: Target,
    capsys: pytest.CaptureFixture[str],
    task: object,
    delay: timedelta,
) -> None:
    """Two failed calls, then success on attempt 3, each retry ``delay`` after a failure."""
    if delay > timedelta(seconds=0.5) and not target.virtual:
        pytest.skip("a 5 s retry delay is only quick on a VirtualClock; short-delay covers this")
    http_client.reset(target, [500, 503, 200])
    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(task, key="api")("https://api.example.test/items")  # type: ignore[arg-type]
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=delay / 4)

        times = [when for _, when in http_client.requests]
        assert [url for url, _ in http_client.requests] == ["https://api.example.test/items"] * 3
        assert times[1] - times[0] >= delay - MS
        assert times[2] - times[1] >= delay - MS
        await execution.sync()
        assert execution.state is ExecutionState.COMPLETED
        assert execution.attempt == 3
    assert capsys.readouterr().out == "Success on attempt 3\n"


# -- delays, measured on the docket's clock -----------------------------------


@dataclass
class Attempt:
    """What one run saw: its attempt number, its due time, and when it failed."""

    number: int
    when: datetime
    failed_at: datetime | None = None


def assert_delays(target: Target, attempts: list[Attempt], expected: list[timedelta]) -> None:
    """Each retry was due ``expected[i]`` after failure i: exactly on a virtual clock,
    at least that (to the millisecond) on the system clock."""
    gaps = [
        later.when - earlier.failed_at
        for earlier, later in zip(attempts, attempts[1:], strict=False)
        if earlier.failed_at is not None
    ]
    assert len(gaps) == len(expected)
    for gap, delay in zip(gaps, expected, strict=True):
        if target.virtual:
            assert delay - MS <= gap <= delay, (gaps, expected)
        else:
            assert gap >= delay - MS, (gaps, expected)


@pytest.mark.parametrize(
    "delay",
    [
        pytest.param(timedelta(seconds=0.1), id="short"),
        pytest.param(timedelta(hours=1), id="hours"),
    ],
)
async def test_each_retry_is_due_its_delay_after_the_failure(
    target: Target, delay: timedelta
) -> None:
    """``Retry(attempts=4, delay)``: three failures, each retried ``delay`` later."""
    if delay > timedelta(seconds=0.5) and not target.virtual:
        pytest.skip("hour-long delays are only quick on a VirtualClock; 'short' covers this")
    attempts: list[Attempt] = []

    async def sync_ledger(
        account: str,
        retry: Retry = Retry(attempts=4, delay=delay),
        execution: Execution = CurrentExecution(),
    ) -> str:
        attempts.append(Attempt(retry.attempt, execution.when))
        if retry.attempt < 4:
            attempts[-1].failed_at = target.now()
            raise UpstreamError(502)
        return f"synced {account}"

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        start = target.now()
        execution = await docket.add(sync_ledger)("acct-1")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=delay / 4)

        assert [a.number for a in attempts] == [1, 2, 3, 4]
        assert_delays(target, attempts, [delay] * 3)
        assert target.now() - start >= 3 * delay - MS
        assert await target.wait(execution.get_result()) == "synced acct-1"
        assert (await docket.snapshot()).total_tasks == 0


@pytest.mark.parametrize(
    "delay",
    [
        pytest.param(timedelta(seconds=0.05), id="short"),
        pytest.param(timedelta(hours=6), id="hours"),
    ],
)
async def test_retry_forever_keeps_its_delay(target: Target, delay: timedelta) -> None:
    """``Retry.forever(delay)`` retries past any count, each time ``delay`` later."""
    if delay > timedelta(seconds=0.5) and not target.virtual:
        pytest.skip("six-hour delays are only quick on a VirtualClock; 'short' covers this")
    attempts: list[Attempt] = []

    async def patient(
        retry: Retry = Retry.forever(delay),
        execution: Execution = CurrentExecution(),
    ) -> int:
        attempts.append(Attempt(retry.attempt, execution.when))
        if retry.attempt < 8:
            attempts[-1].failed_at = target.now()
            raise UpstreamError(503)
        return retry.attempt

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(patient)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=delay / 2)
        assert [a.number for a in attempts] == list(range(1, 9))
        assert_delays(target, attempts, [delay] * 7)
        assert await target.wait(execution.get_result()) == 8


@pytest.mark.parametrize(
    "minimum, maximum, expected",
    [
        pytest.param(
            timedelta(seconds=0.02),
            timedelta(seconds=0.1),
            [timedelta(seconds=s) for s in (0.02, 0.04, 0.08, 0.1, 0.1)],
            id="short",
        ),
        pytest.param(
            None,
            None,
            [timedelta(seconds=s) for s in (1, 2, 4, 8, 16, 32, 64, 64)],
            id="defaults",
        ),
        pytest.param(
            timedelta(minutes=15),
            timedelta(hours=2),
            [timedelta(minutes=m) for m in (15, 30, 60, 120, 120)],
            id="hours",
        ),
    ],
)
async def test_exponential_retry_doubles_its_delay_up_to_the_maximum(
    target: Target,
    minimum: timedelta | None,
    maximum: timedelta | None,
    expected: list[timedelta],
) -> None:
    """``ExponentialRetry``: minimum_delay, then twice that, and so on, capped at
    maximum_delay (by default 1 s doubling up to 64 s)."""
    if sum(expected, timedelta()) > timedelta(seconds=0.5) and not target.virtual:
        pytest.skip("these delays are only quick on a VirtualClock; 'short' covers this")
    attempts_allowed = len(expected) + 1
    if minimum is None or maximum is None:
        policy = ExponentialRetry(attempts=attempts_allowed)
    else:
        policy = ExponentialRetry(
            attempts=attempts_allowed, minimum_delay=minimum, maximum_delay=maximum
        )
    attempts: list[Attempt] = []

    async def backoff(
        retry: ExponentialRetry = policy,
        execution: Execution = CurrentExecution(),
    ) -> None:
        attempts.append(Attempt(retry.attempt, execution.when))
        attempts[-1].failed_at = target.now()
        raise UpstreamError(429)

    async with target.docket(execution_ttl=LONG_TTL) as docket:
        execution = await docket.add(backoff)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=max(expected) / 4)

        assert [a.number for a in attempts] == list(range(1, attempts_allowed + 1))
        assert_delays(target, attempts, expected)
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.attempt == attempts_allowed


# -- what a retry is ------------------------------------------------------------


async def test_a_retry_has_the_same_key_and_arguments_and_the_next_attempt(
    target: Target,
) -> None:
    """Every attempt sees the original arguments and key; only ``attempt`` grows."""
    seen: list[tuple[str, tuple[object, ...], dict[str, object], int]] = []

    async def charge(
        customer: str,
        amount: int,
        *,
        currency: str = "EUR",
        key: str = TaskKey(),
        retry: Retry = Retry(attempts=3),
        execution: Execution = CurrentExecution(),
    ) -> None:
        seen.append((key, (customer, amount), {"currency": currency}, retry.attempt))
        assert execution.attempt == retry.attempt
        raise UpstreamError(500)

    async with target.docket() as docket:
        execution = await docket.add(charge, key="charge-1")("ada", 42, currency="GBP")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())

        assert seen == [
            ("charge-1", ("ada", 42), {"currency": "GBP"}, 1),
            ("charge-1", ("ada", 42), {"currency": "GBP"}, 2),
            ("charge-1", ("ada", 42), {"currency": "GBP"}, 3),
        ]
        await execution.sync()
        assert execution.args == ("ada", 42)
        assert execution.kwargs == {"currency": "GBP"}


async def test_after_the_last_attempt_get_result_reraises_the_tasks_own_exception(
    target: Target,
) -> None:
    """The final failure is FAILED with the last error; get_result raises it as it was."""
    statuses = [500, 502, 503]

    async def fetch(retry: Retry = Retry(attempts=3)) -> None:
        raise UpstreamError(statuses[retry.attempt - 1])

    async with target.docket() as docket:
        execution = await docket.add(fetch)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.attempt == 3
        assert execution.error == "UpstreamError: upstream answered 503"
        with pytest.raises(UpstreamError) as raised:
            await target.wait(execution.get_result())
        assert raised.value.status == 503


async def test_get_result_awaited_from_the_start_follows_the_retries(target: Target) -> None:
    """A caller waiting on the execution sees the outcome of the last attempt, not the first."""
    delay = timedelta(seconds=0.1)

    async def eventually_fine(retry: Retry = Retry(attempts=3, delay=delay)) -> str:
        if retry.attempt < 3:
            raise UpstreamError(503)
        return f"fine on {retry.attempt}"

    async with target.docket() as docket:
        execution = await docket.add(eventually_fine)()
        async with target.running_worker(docket):
            assert await target.drive(execution.get_result(), step=delay / 2) == "fine on 3"


async def test_a_retry_is_scheduled_work_that_another_worker_can_run(target: Target) -> None:
    """The retry lives in storage, not in the worker that failed: a later worker runs it."""
    attempts: list[int] = []
    delay = timedelta(seconds=0.2)

    async def handoff(retry: Retry = Retry(attempts=2, delay=delay)) -> str:
        attempts.append(retry.attempt)
        if retry.attempt == 1:
            raise UpstreamError(503)
        return "second worker"

    async with target.docket() as docket:
        execution = await docket.add(handoff, key="handoff")()
        async with target.running_worker(docket, name="first"):

            async def retry_scheduled() -> bool:
                await execution.sync()
                return execution.attempt == 2

            await target.eventually(retry_scheduled, what="the retry scheduled")
        assert attempts == [1]
        async with target.docket() as other_docket:
            other_docket.register(handoff)
            async with Worker(other_docket, name="second") as second:
                await target.drive(second.run_until_finished(), step=delay / 2)
        assert attempts == [1, 2]
        assert await target.wait(execution.get_result()) == "second worker"
        assert execution.worker == "second"


# -- forced retries -------------------------------------------------------------


async def test_retry_after_forces_a_retry_after_a_delay(target: Target) -> None:
    """``retry.after(delay)`` ends the attempt without an error of the task's own,
    and the next attempt is due ``delay`` later."""
    attempts: list[Attempt] = []
    delay = timedelta(seconds=0.15)

    async def poll_job(
        retry: Retry = Retry(attempts=5),
        execution: Execution = CurrentExecution(),
    ) -> str:
        attempts.append(Attempt(retry.attempt, execution.when))
        if retry.attempt < 3:
            attempts[-1].failed_at = target.now()
            retry.after(delay)
        return "ready"

    async with target.docket() as docket:
        execution = await docket.add(poll_job)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=delay / 3)
        assert [a.number for a in attempts] == [1, 2, 3]
        assert_delays(target, attempts, [delay, delay])
        assert await target.wait(execution.get_result()) == "ready"


async def test_retry_at_forces_a_retry_at_a_given_time(target: Target) -> None:
    """``retry.at(when)`` makes the next attempt due at ``when``."""
    seen: list[tuple[int, datetime]] = []
    requested: list[datetime] = []

    async def wait_for_window(
        retry: Retry = Retry(attempts=2),
        execution: Execution = CurrentExecution(),
    ) -> int:
        seen.append((retry.attempt, execution.when))
        if retry.attempt == 1:
            requested.append(target.later(0.25))
            retry.at(requested[0])
        return retry.attempt

    async with target.docket() as docket:
        execution = await docket.add(wait_for_window)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.05)
        assert [attempt for attempt, _ in seen] == [1, 2]
        assert requested[0] - MS <= seen[1][1] <= requested[0]
        assert await target.wait(execution.get_result()) == 2


async def test_forced_retries_count_against_attempts(target: Target) -> None:
    """A task that always forces a retry stops after ``attempts`` runs, FAILED."""
    attempts: list[int] = []

    async def never_ready(retry: Retry = Retry(attempts=3)) -> None:
        attempts.append(retry.attempt)
        retry.after(timedelta(seconds=0.05))

    async with target.docket() as docket:
        execution = await docket.add(never_ready)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished(), step=0.025)
        assert attempts == [1, 2, 3]
        await execution.sync()
        assert execution.state is ExecutionState.FAILED
        assert execution.attempt == 3
