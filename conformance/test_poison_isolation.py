"""Only the task that kills its worker is set aside; work that died with it is not.

Pinned here: a delivery reclaimed from an expired lease is a suspect, and a
suspect runs alone on its worker (nothing else starts while it runs, and it
starts only once nothing else runs).  Only runs that may have started count
against ``max_deliveries``: the first run, every run started alone since, and
the one about to start; a delivery that merely waited on a dying worker is
not counted.  So a poison task that kills every worker it runs on is set
aside after ``max_deliveries``, while the work that died beside it the first
time completes, run once alone.  Suspicion outlives a hand-back: a suspect a
stopping worker gives back still runs alone wherever it lands next.

A worker "dies" here as in ``test_delivery_limit.py``: the poison cancels the
task running the worker, which abandons its runs unsettled; their leases lapse.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from conformance.conftest import Target
from docket import Docket, Execution, ExecutionState, Worker

LEASE = timedelta(milliseconds=600)


class Life:
    """One worker's life, which a poison task can end as a crash would."""

    def __init__(self) -> None:
        self.runner: asyncio.Task[None] | None = None

    def kill(self) -> None:
        assert self.runner is not None
        self.runner.cancel()


class Runs:
    """What ran, how many ran at once, and what ran alongside the poison."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()
        self.active = 0
        self.widest_after_a_death = 0
        self.deaths = 0
        self.company_of_poison: list[int] = []

    def begin(self, name: str) -> None:
        self.started[name] += 1
        self.active += 1
        if self.deaths:
            self.widest_after_a_death = max(self.widest_after_a_death, self.active)

    def end(self) -> None:
        self.active -= 1

    async def strike(self, life: Life) -> None:
        """The poison's body: note what runs beside it, then kill its worker."""
        self.begin("poison")
        for _ in range(5):
            await asyncio.sleep(0)  # what starts beside it has started by now
        self.company_of_poison.append(self.active - 1)
        self.deaths += 1
        life.kill()
        try:
            await asyncio.Event().wait()
        finally:
            self.end()


async def _live(target: Target, docket: Docket, life: Life, done: list[Execution]) -> None:
    """Run a worker until it is killed or every execution in ``done`` has ended."""

    async def work() -> None:
        async with Worker(
            docket, concurrency=10, max_deliveries=2, redelivery_timeout=LEASE, prefetch=4
        ) as worker:
            await worker.run_forever()

    life.runner = asyncio.create_task(work())

    async def over() -> bool:
        if life.runner is not None and life.runner.done():
            return True
        for execution in done:
            await execution.sync()
        return all(not execution.state.is_live for execution in done)

    await target.eventually(over, what="the worker died or the work ended")
    life.runner.cancel()
    await asyncio.gather(life.runner, return_exceptions=True)
    await target.elapse(LEASE + timedelta(milliseconds=50))


async def test_only_the_task_that_kills_its_worker_is_set_aside(target: Target) -> None:
    runs, life = Runs(), Life()
    first_life = asyncio.Event()

    async def innocent(n: int) -> None:
        runs.begin(f"innocent-{n}")
        try:
            if not first_life.is_set():
                await asyncio.Event().wait()  # still running when the poison strikes
            for _ in range(5):
                await asyncio.sleep(0)  # long enough to overlap whatever starts beside it
        finally:
            runs.end()

    async def poison() -> None:
        first_life.set()
        await runs.strike(life)

    async with target.docket() as docket:
        docket.register(innocent)
        docket.register(poison)
        innocents = [await docket.add(innocent, key=f"innocent-{n}")(n) for n in range(5)]
        doomed = await docket.add(poison, key="poison")()
        everything = [*innocents, doomed]
        for _ in range(8):
            await doomed.sync()
            if doomed.state is ExecutionState.FAILED:
                break
            await _live(target, docket, life, everything)
        for _ in range(3):
            await _live(target, docket, life, everything)
            if all(not execution.state.is_live for execution in everything):
                break

        for execution in innocents:
            await execution.sync()
            assert execution.state is ExecutionState.COMPLETED, execution.key
        await doomed.sync()
        assert doomed.state is ExecutionState.FAILED
        assert doomed.error is not None and "delivered 3 times" in doomed.error
        letters = await docket.dead_letters()
        assert [(letter.key, letter.function_name) for letter in letters] == [("poison", "poison")]
        # The poison ran once among the others, then once alone; each innocent
        # ran once among them and once alone, however often it waited behind
        # the poison on a worker that died.
        assert runs.started["poison"] == 2
        assert runs.company_of_poison == [5, 0]
        assert all(runs.started[f"innocent-{n}"] == 2 for n in range(5)), runs.started
        assert runs.widest_after_a_death == 1


async def test_a_suspect_handed_back_still_runs_alone(target: Target) -> None:
    runs, life = Runs(), Life()
    release = asyncio.Event()

    async def innocent(n: int) -> None:
        runs.begin(f"innocent-{n}")
        try:
            await release.wait()
        finally:
            runs.end()

    async def poison() -> None:
        await runs.strike(life)

    async with target.docket() as docket:
        docket.register(innocent)
        docket.register(poison)
        first = await docket.add(innocent, key="first")(0)
        doomed = await docket.add(poison, key="poison")()
        await _live(target, docket, life, [first, doomed])
        assert runs.company_of_poison == [1]

        # Both are suspects now.  A one-slot worker runs the first alone and
        # holds the poison; stopped, it hands the poison back unstarted.
        worker = Worker(
            docket, concurrency=1, max_deliveries=5, redelivery_timeout=LEASE, prefetch=1
        )
        async with worker:
            running = asyncio.create_task(worker.run_forever())

            async def holding() -> bool:
                await doomed.sync()
                return runs.started["innocent-0"] == 2 and doomed.worker == worker.name

            await target.eventually(holding, what="the first runs and the poison is held")
            worker.stop()
            await target.wait(running)
            release.set()
        await first.sync()
        assert first.state is ExecutionState.COMPLETED
        await doomed.sync()
        assert doomed.state is ExecutionState.QUEUED
        assert runs.started["poison"] == 1

        # Claimed afresh among new work, it still starts alone.
        release.clear()
        later = [await docket.add(innocent, key=f"later-{n}")(n) for n in range(3)]
        await _live(target, docket, life, [doomed, *later])
        assert runs.company_of_poison == [1, 0]
        release.set()


async def test_a_suspect_starts_only_once_what_ran_before_it_is_written(target: Target) -> None:
    """Were a suspect to start while an earlier run's outcome waited to be written
    here, a poison would take that outcome down with its worker, and the innocent
    run would be delivered again beside it, and blamed with it, every time."""
    runs, life = Runs(), Life()
    struck = asyncio.Event()
    innocent_when_poison_started: list[ExecutionState] = []
    executions: dict[str, Execution] = {}

    async def innocent() -> None:
        runs.begin("innocent")
        try:
            if not struck.is_set():
                await asyncio.Event().wait()  # dies with the poison's first worker
        finally:
            runs.end()

    async def poison() -> None:
        if struck.is_set():
            # Run again, both suspects now: the innocent one (due first) ran
            # alone before this, and its outcome must be in storage already.
            innocent_run = executions["innocent"]
            await innocent_run.sync()
            innocent_when_poison_started.append(innocent_run.state)
        struck.set()
        await runs.strike(life)

    async with target.docket() as docket:
        docket.register(innocent)
        docket.register(poison)
        executions["innocent"] = first = await docket.add(innocent, key="innocent")()
        doomed = await docket.add(poison, key="poison")()
        await _live(target, docket, life, [first, doomed])
        assert runs.company_of_poison == [1]
        await _live(target, docket, life, [first, doomed])
        assert innocent_when_poison_started == [ExecutionState.COMPLETED]
        assert runs.company_of_poison == [1, 0]
        assert runs.started["innocent"] == 2
