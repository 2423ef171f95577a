"""Dependency injection: context values, ``Depends``, ``Shared``, ``TaskArgument``.

Pinned here: a parameter whose default (or ``Annotated`` metadata) is a
dependency gets a value the worker resolves for each run.  ``CurrentDocket``,
``CurrentWorker``, ``CurrentExecution`` and ``TaskKey`` give the run's
surroundings.  ``Depends(factory)`` accepts sync and async functions and
sync and async context managers, nests, is resolved once per run however
often it is asked for, and is cleaned up after the run (also when the run
fails).  ``Shared(factory)`` is made once per worker on first use (even by
concurrent runs) and cleaned up, last made first, when the worker stops.
``TaskArgument`` reads the task's own arguments, its name inferred inside a
``Depends`` factory.  ``Worker(dependencies=[...])`` applies to every task.
Two ``single`` dependencies of one kind (two ``Retry``) are refused when the
task is registered; a dependency that raises fails the run with an error
naming the parameter.  A task stays an ordinary function: called directly,
explicit values stand in for its dependencies, and a producer may pass one
explicitly too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Annotated, Any

import pytest

from conformance.conftest import Target, assert_refused_naming
from docket import (
    CurrentDocket,
    CurrentExecution,
    CurrentWorker,
    Depends,
    Docket,
    Execution,
    ExecutionState,
    Perpetual,
    Retry,
    Shared,
    TaskArgument,
    TaskKey,
    Timeout,
    Worker,
)
from docket.dependencies import Cron, Dependency


class Boom(Exception):
    """The error failing tasks and factories raise."""


async def final_state(execution: Execution) -> ExecutionState:
    """The execution's state as storage has it now."""
    await execution.sync()
    return execution.state


# -- the Annotated form needs module-level names (annotations are strings here) --


def connection_for(key: str = TaskKey()) -> str:
    """A per-run "connection", made from the run's key so each run's is distinct."""
    return f"connection-for-{key}"


Connection = Annotated[str, Depends(connection_for)]


async def test_context_dependencies_give_the_runs_surroundings(target: Target) -> None:
    """CurrentDocket, CurrentWorker, CurrentExecution and TaskKey describe this run."""
    seen: dict[str, Any] = {}

    async def introspect(
        order_id: int,
        docket: Docket = CurrentDocket(),
        worker: Worker = CurrentWorker(),
        execution: Execution = CurrentExecution(),
        key: str = TaskKey(),
    ) -> None:
        seen.update(docket=docket, worker=worker, execution=execution, key=key)

    async with target.docket() as producer, target.docket() as worker_docket:
        added = await producer.add(introspect, key="order-7")(7)
        worker_docket.register(introspect)
        async with Worker(worker_docket, name="context-worker") as worker:
            await target.drive(worker.run_until_finished())

        assert seen["docket"] is worker_docket
        assert seen["docket"].name == producer.name
        assert seen["worker"] is worker
        assert seen["worker"].name == "context-worker"
        assert seen["key"] == "order-7"
        execution = seen["execution"]
        assert isinstance(execution, Execution)
        assert execution.key == "order-7"
        assert execution.function_name == "introspect"
        assert execution.args == (7,)
        assert execution.attempt == 1
        assert execution.worker == "context-worker"
        assert await final_state(added) is ExecutionState.COMPLETED


async def test_depends_accepts_sync_and_async_functions(target: Target) -> None:
    """A factory may be a plain or an async function; its return value is injected."""

    def sync_factory() -> str:
        return "from-sync"

    async def async_factory() -> str:
        await asyncio.sleep(0)
        return "from-async"

    async def task(
        a: str = Depends(sync_factory),
        b: str = Depends(async_factory),
    ) -> str:
        return f"{a}+{b}"

    async with target.docket() as docket:
        execution = await docket.add(task)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == "from-sync+from-async"


async def test_depends_context_managers_are_cleaned_up_after_each_run(target: Target) -> None:
    """Sync and async context managers are entered before the body and exited right after it."""
    events: list[str] = []

    @contextmanager
    def sync_resource() -> Iterator[str]:
        events.append("sync enter")
        try:
            yield "sync-value"
        finally:
            events.append("sync exit")

    @asynccontextmanager
    async def async_resource() -> AsyncIterator[str]:
        events.append("async enter")
        try:
            yield "async-value"
        finally:
            events.append("async exit")

    async def task(
        n: int,
        first: str = Depends(sync_resource),
        second: str = Depends(async_resource),
    ) -> None:
        assert (first, second) == ("sync-value", "async-value")
        events.append(f"body {n}")

    async with target.docket() as docket:
        await docket.add(task)(1)
        await docket.add(task)(2)
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())

    one_run = ["sync enter", "async enter", "body {n}", "async exit", "sync exit"]
    assert events == [e.format(n=1) for e in one_run] + [e.format(n=2) for e in one_run]


async def test_depends_is_cleaned_up_when_the_run_fails(target: Target) -> None:
    """A failing body still has its context managers exited, and sees the error there."""
    events: list[str] = []

    @asynccontextmanager
    async def transaction() -> AsyncIterator[str]:
        events.append("begin")
        try:
            yield "tx"
        except Boom:
            events.append("rollback")
            raise
        else:
            events.append("commit")

    async def task(tx: str = Depends(transaction)) -> None:
        events.append("body")
        raise Boom("body failed")

    async with target.docket() as docket:
        execution = await docket.add(task)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert events == ["begin", "body", "rollback"]
        assert await final_state(execution) is ExecutionState.FAILED
        assert execution.error == "Boom: body failed"


async def test_depends_nest_and_resolve_once_per_run(target: Target) -> None:
    """A factory asked for twice in one run (directly and by another factory) runs once;
    each run gets its own value."""
    made: list[object] = []

    def make_session() -> object:
        session = object()
        made.append(session)
        return session

    async def make_repository(session: object = Depends(make_session)) -> tuple[str, object]:
        return ("repository", session)

    seen: list[tuple[object, object, object]] = []

    async def task(
        session: object = Depends(make_session),
        repository: tuple[str, object] = Depends(make_repository),
        again: object = Depends(make_session),
    ) -> None:
        seen.append((session, repository[1], again))

    async with target.docket() as docket:
        await docket.add(task)()
        await docket.add(task)()
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())

    assert len(made) == 2  # once per run
    assert len(seen) == 2
    for session, via_repository, again in seen:
        assert session is via_repository is again
    assert seen[0][0] is not seen[1][0]


async def test_shared_is_made_once_per_worker_and_cleaned_up_lifo_when_it_stops(
    target: Target,
) -> None:
    """Shared values outlive runs: made on first use (concurrent first uses included),
    reused by every run, and cleaned up last-made-first only when the worker stops."""
    events: list[str] = []

    @asynccontextmanager
    async def pool() -> AsyncIterator[str]:
        events.append("pool made")
        await asyncio.sleep(0.01)  # concurrent first uses must wait, not make another
        try:
            yield "pool"
        finally:
            events.append("pool closed")

    @contextmanager
    def cache() -> Iterator[str]:
        events.append("cache made")
        try:
            yield "cache"
        finally:
            events.append("cache closed")

    used: list[tuple[str, str]] = []

    async def task(
        n: int,
        p: str = Shared(pool),
        c: str = Shared(cache),
    ) -> None:
        used.append((p, c))

    async with target.docket() as docket:
        for n in range(5):
            await docket.add(task)(n)
        async with Worker(docket, concurrency=5) as worker:
            await target.drive(worker.run_until_finished())
            assert used == [("pool", "cache")] * 5
            assert events == ["pool made", "cache made"]  # nothing cleaned up yet
        assert events == ["pool made", "cache made", "cache closed", "pool closed"]


async def test_shared_is_per_worker(target: Target) -> None:
    """Each worker makes its own Shared value."""
    made: list[str] = []

    def resource(worker: Worker = CurrentWorker()) -> str:
        made.append(worker.name)
        return worker.name

    async def task(owner: str = Shared(resource)) -> str:
        return owner

    async with target.docket() as docket:
        first = await docket.add(task)()
        async with Worker(docket, name="first-worker") as worker:
            await target.drive(worker.run_until_finished())
        second = await docket.add(task)()
        async with Worker(docket, name="second-worker") as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(first.get_result()) == "first-worker"
        assert await target.wait(second.get_result()) == "second-worker"
    assert made == ["first-worker", "second-worker"]


async def test_task_argument_reads_the_tasks_arguments(target: Target) -> None:
    """Inside a factory the argument's name is the factory parameter's; it may be
    positional or keyword in the call; ``optional`` gives None when it is absent."""

    def describe_customer(customer_id: int = TaskArgument()) -> str:
        return f"customer-{customer_id}"

    def describe_region(region: str | None = TaskArgument(optional=True)) -> str:
        return f"region-{region}"

    def explicit(order: int = TaskArgument("customer_id")) -> int:
        return order * 10

    async def greet(
        customer_id: int,
        label: str = Depends(describe_customer),
        region_label: str = Depends(describe_region),
        scaled: int = Depends(explicit),
    ) -> str:
        return f"{label}/{region_label}/{scaled}"

    async with target.docket() as docket:
        positional = await docket.add(greet)(42)
        keyword = await docket.add(greet)(customer_id=7)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(positional.get_result()) == "customer-42/region-None/420"
        assert await target.wait(keyword.get_result()) == "customer-7/region-None/70"


async def test_task_argument_can_be_declared_on_the_task_by_name(target: Target) -> None:
    """``TaskArgument("name")`` directly on the task reads another of its arguments."""

    async def task(
        order_id: int,
        copy_of_order: int = TaskArgument("order_id"),
        missing: str | None = TaskArgument("coupon", optional=True),
    ) -> tuple[int, int, str | None]:
        return (order_id, copy_of_order, missing)

    async with target.docket() as docket:
        execution = await docket.add(task)(order_id=99)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == (99, 99, None)


async def test_a_missing_task_argument_fails_the_run_naming_the_parameter(target: Target) -> None:
    """A required TaskArgument with no such argument fails the run; the body never runs."""
    calls: list[str] = []

    def tenant_name(tenant: str = TaskArgument()) -> str:
        return tenant

    async def task(order_id: int, tenant_label: str = Depends(tenant_name)) -> None:
        calls.append(tenant_label)

    async with target.docket() as docket:
        execution = await docket.add(task)(1)
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert calls == []
        assert await final_state(execution) is ExecutionState.FAILED
        assert execution.error is not None and "tenant_label" in execution.error
        with pytest.raises(Exception, match="tenant_label"):
            await target.wait(execution.get_result())


async def test_a_failing_dependency_fails_the_run_and_cleans_up_what_was_entered(
    target: Target,
) -> None:
    """The error names the parameter; dependencies already entered are still exited."""
    events: list[str] = []

    @asynccontextmanager
    async def resource() -> AsyncIterator[str]:
        events.append("enter")
        try:
            yield "r"
        finally:
            events.append("exit")

    async def broken() -> str:
        raise Boom("cannot connect")

    async def task(res: str = Depends(resource), database: str = Depends(broken)) -> None:
        events.append("body")

    async with target.docket() as docket:
        execution = await docket.add(task)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert events == ["enter", "exit"]
        assert await final_state(execution) is ExecutionState.FAILED
        assert execution.error is not None
        assert "database" in execution.error
        assert "cannot connect" in execution.error
        with pytest.raises(Exception, match="database"):
            await target.wait(execution.get_result())


async def test_a_failing_nested_dependency_names_the_tasks_parameter(target: Target) -> None:
    """A failure deep in a chain of factories is reported against the task's parameter."""

    def innermost() -> str:
        raise Boom("deep failure")

    def middle(value: str = Depends(innermost)) -> str:
        return value

    async def task(service: str = Depends(middle)) -> None:
        pass

    async with target.docket() as docket:
        execution = await docket.add(task)()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await final_state(execution) is ExecutionState.FAILED
        assert execution.error is not None
        assert "service" in execution.error and "deep failure" in execution.error


async def test_the_annotated_form_injects_like_a_default(target: Target) -> None:
    """``param: Annotated[T, Depends(factory)]`` is resolved per run like a default."""

    async def task(conn: Connection) -> str:
        return conn

    async with target.docket() as docket:
        execution = await docket.add(task, key="annotated-run")()
        async with Worker(docket) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(execution.get_result()) == "connection-for-annotated-run"


async def test_an_argument_given_by_the_producer_is_used_instead_of_the_dependency(
    target: Target,
) -> None:
    """Explicit values win: a dependency fills a parameter only when the call did not."""
    made: list[str] = []

    def factory() -> str:
        made.append("made")
        return "injected"

    async def task(value: str = Depends(factory)) -> str:
        return value

    async with target.docket() as docket:
        explicit = await docket.add(task)(value="given")
        injected = await docket.add(task)()
        async with Worker(docket, concurrency=1) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(explicit.get_result()) == "given"
        assert await target.wait(injected.get_result()) == "injected"
    assert made == ["made"]


async def test_a_task_can_be_called_directly_with_explicit_dependency_values(
    target: Target,
) -> None:
    """Tasks stay plain functions: tests may call them with stand-ins for dependencies."""

    async def task(
        order_id: int,
        docket: Docket = CurrentDocket(),
        retry: Retry = Retry(attempts=3),
        label: str = Depends(lambda: "never made"),
    ) -> str:
        return f"{order_id}:{docket.name}:{retry.attempt}:{label}"

    async with target.docket() as docket:
        result = await task(5, docket=docket, retry=Retry(), label="stand-in")
    assert result == f"5:{target.name}:1:stand-in"


async def test_worker_dependencies_apply_to_every_task(target: Target) -> None:
    """``Worker(dependencies=[...])``: entered and exited around every run of every task."""
    events: list[str] = []

    class Audit(Dependency):
        async def __aenter__(self) -> Audit:
            events.append("audit enter")
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            events.append("audit exit")

    async def first() -> None:
        events.append("first")

    async def second() -> None:
        events.append("second")

    async with target.docket() as docket:
        await docket.add(first)()
        await docket.add(second)()
        async with Worker(docket, concurrency=1, dependencies=[Audit()]) as worker:
            await target.drive(worker.run_until_finished())

    assert events == [
        "audit enter",
        "first",
        "audit exit",
        "audit enter",
        "second",
        "audit exit",
    ]


async def test_a_worker_retry_dependency_retries_every_task(target: Target) -> None:
    """A worker-wide Retry makes a task without its own Retry retry."""
    attempts: list[int] = []

    async def flaky(execution: Execution = CurrentExecution()) -> str:
        attempts.append(execution.attempt)
        if execution.attempt < 3:
            raise Boom("not yet")
        return "ok"

    async with target.docket() as docket:
        run = await docket.add(flaky)()
        async with Worker(docket, dependencies=[Retry(attempts=3)]) as worker:
            await target.drive(worker.run_until_finished())
        assert attempts == [1, 2, 3]
        assert await target.wait(run.get_result()) == "ok"


async def test_worker_dependencies_by_name_and_their_conflicts_with_the_task(
    target: Target,
) -> None:
    """``Worker(dependencies={name: dep})`` works like the list form; a ``single``
    kind declared by both the worker and a task fails that task's runs,
    naming the kind and both places (pydocket's wording)."""
    entered: list[str] = []

    class Audit(Dependency):
        async def __aenter__(self) -> Audit:
            entered.append("audit")
            return self

    async def plain() -> str:
        return "plain"

    async def own_retry(retry: Retry = Retry(attempts=2)) -> str:
        return "own"

    async with target.docket() as docket:
        ok = await docket.add(plain)()
        clash = await docket.add(own_retry)()
        async with Worker(
            docket, dependencies={"audit": Audit(), "retry": Retry(attempts=3)}
        ) as worker:
            await target.drive(worker.run_until_finished())
        assert await target.wait(ok.get_result()) == "plain"
        await clash.sync()
        assert clash.state is ExecutionState.FAILED
        assert clash.error is not None
        assert "Only one Retry dependency is allowed" in clash.error
        assert "worker dependency 'retry'" in clash.error and "parameter 'retry'" in clash.error
        assert entered == ["audit", "audit"]


@pytest.mark.parametrize(
    "dependencies, error, names",
    [
        ({"__private": Retry()}, ValueError, ("__private",)),
        ({"x": "not a dependency"}, TypeError, ("'x'", "'not a dependency'")),
        (["not a dependency"], TypeError, ("index 0",)),
        ("Retry()", TypeError, ("dependencies", "'Retry()'")),
    ],
)
async def test_bad_worker_dependencies_are_refused_naming_them(
    target: Target, dependencies: Any, error: type[Exception], names: tuple[str, ...]
) -> None:
    async with target.docket() as docket:
        assert_refused_naming(lambda: Worker(docket, dependencies=dependencies), error, names)


@pytest.mark.parametrize(
    "kind",
    ["two retries", "retry and exponential retry", "two timeouts", "perpetual and cron"],
)
async def test_two_single_dependencies_of_one_kind_are_refused_at_register(
    target: Target, kind: str
) -> None:
    """Registering (or adding) a task with two Retry, Timeout or Perpetual is a ValueError."""
    from docket import ExponentialRetry

    if kind == "two retries":

        async def task(a: Retry = Retry(attempts=2), b: Retry = Retry(attempts=3)) -> None:
            pass

    elif kind == "retry and exponential retry":

        async def task(  # type: ignore[misc]
            a: Retry = Retry(attempts=2), b: ExponentialRetry = ExponentialRetry(attempts=3)
        ) -> None:
            pass

    elif kind == "two timeouts":

        async def task(  # type: ignore[misc]
            a: Timeout = Timeout(timedelta(seconds=1)), b: Timeout = Timeout(timedelta(seconds=2))
        ) -> None:
            pass

    else:

        async def task(  # type: ignore[misc]
            a: Perpetual = Perpetual(every=timedelta(seconds=1)),
            b: Cron = Cron("@daily", automatic=False),
        ) -> None:
            pass

    async with target.docket() as docket:
        with pytest.raises(ValueError):
            docket.register(task)
        with pytest.raises(ValueError):
            await docket.add(task)()
        assert "task" not in docket.tasks
        assert (await docket.snapshot()).total_tasks == 0
