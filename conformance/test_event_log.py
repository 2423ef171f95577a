"""The worker's log lines for the rarer ends of a run, on every target.

(``test_task_logging.py`` pins started, completed, retrying and gave up.)
Pinned here, on the logger ``docket.worker``:

* ``Struck call: not run`` at WARNING, for work a strike reached after it
  was added;
* ``Cancelled call after 12ms`` at INFO for a run ``Docket.cancel``
  interrupted, ``Cancelled call before it started`` for one cancelled first;
* ``Completed call in 12ms; next run in 50ms`` for a ``Perpetual``;
* a key with control characters shows them escaped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

import pytest

from conformance.conftest import Target
from docket import Perpetual, Worker
from docket.states import ExecutionState


def lines_about(caplog: pytest.LogCaptureFixture, key: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "docket.worker" and "{" + key + "}" in r.getMessage()
    ]


async def bill(customer: str) -> None:
    """Work a strike reaches after it was added."""


async def test_work_struck_after_it_was_added_is_a_warning(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docket")
    async with target.docket() as docket:
        execution = await docket.add(bill, key="k-struck")("acme")
        await docket.strike(bill)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        await execution.sync()
        assert execution.state is ExecutionState.CANCELLED
    [line] = lines_about(caplog, "k-struck")
    assert line.levelno == logging.WARNING
    assert line.getMessage() == "Struck bill(...){k-struck}: not run"


async def test_a_cancelled_run_says_how_long_it_ran(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docket")
    started = asyncio.Event()

    async def long_job() -> None:
        started.set()
        await asyncio.sleep(3600)

    async with target.docket() as docket:
        execution = await docket.add(long_job, key="k-cancel")()
        async with target.running_worker(docket):
            await target.wait(started.wait())
            await docket.cancel(execution.key)
            await execution.sync()
            assert execution.state is ExecutionState.CANCELLED

            async def logged() -> None:
                while not any(
                    r.getMessage().startswith("Cancelled") for r in lines_about(caplog, "k-cancel")
                ):
                    await asyncio.sleep(0.01)

            await target.wait(logged())
    messages = [r.getMessage() for r in lines_about(caplog, "k-cancel")]
    assert messages[0].startswith("Started long_job(){k-cancel}, ")
    assert re.fullmatch(r"Cancelled long_job\(\)\{k-cancel\} after \d+(ms|(\.\d)?s)", messages[1])


async def test_a_perpetual_says_when_it_runs_next(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docket")

    async def twice(perpetual: Perpetual = Perpetual(every=timedelta(minutes=1))) -> None:
        """Runs once more, a minute later."""

    async with target.docket() as docket:
        await docket.add(twice, key="k-perpetual")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_idle())
    completed = [
        r.getMessage()
        for r in lines_about(caplog, "k-perpetual")
        if r.getMessage().startswith("Completed")
    ]
    assert completed, [r.getMessage() for r in lines_about(caplog, "k-perpetual")]
    assert re.fullmatch(
        r"Completed twice\(\)\{k-perpetual\} in \d+ms; next run in (59(\.\d)?s|1m 0s)",
        completed[0],
    ), completed[0]


async def test_a_hostile_key_is_escaped_in_every_line(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docket")
    key = "k\nfake\x1b[2J"
    async with target.docket() as docket:
        await docket.add(bill, key=key)("acme")
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
    messages = [r.getMessage() for r in caplog.records if r.name == "docket.worker"]
    about = [m for m in messages if "{k\\nfake\\x1b[2J}" in m]
    assert [m.split()[0] for m in about] == ["Started", "Completed"]
    assert not any("\n" in m or "\x1b" in m for m in messages)
