"""``docket dead-letters ls | show | replay | purge`` as a real process against a real redis-server.

Letters are made in this process: a producer adds work and a worker that
knows none of its tasks sets it aside.  The commands are then run as
``python -m docket`` and their effect read back through the library.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from cli_support.harness import docket_cli
from cli_support.helpers import boom, hold

from docket import Docket, Worker
from docket.dead_letters import DeadLetter
from docket.execution import Execution
from docket.states import ExecutionState


@dataclass
class Box:
    """One docket with dead letters in it, seen through the library and the CLI."""

    name: str
    url: str

    def cli(self, *args: str) -> Any:
        return docket_cli("dead-letters", *args, "--docket", self.name, "--url", self.url)

    def set_aside(self, *calls: tuple[Callable[..., Any], str, tuple[Any, ...]]) -> list[str]:
        """Add each ``(task, key, args)`` and have a worker that knows none of them set it aside."""

        async def main() -> list[str]:
            async with Docket(self.name, self.url) as producer:
                for function, key, args in calls:
                    await producer.add(function, key=key)(*args)
            async with Docket(self.name, self.url) as consumer:
                async with Worker(
                    consumer, concurrency=1, unknown_task_grace=timedelta(0)
                ) as worker:
                    await worker.run_until_finished()
                return [letter.id for letter in await consumer.dead_letters()]

        return asyncio.run(main())

    def letters(self) -> list[DeadLetter]:
        async def main() -> list[DeadLetter]:
            async with Docket(self.name, self.url) as docket:
                return await docket.dead_letters()

        return asyncio.run(main())

    def execution(self, key: str) -> tuple[Execution | None, datetime]:
        async def main() -> tuple[Execution | None, datetime]:
            async with Docket(self.name, self.url) as docket:
                return await docket.get_execution(key), docket.clock.now()

        return asyncio.run(main())


@pytest.fixture
def box(redis_server_url: str) -> Box:
    return Box(f"cli-dead-{uuid.uuid4().hex[:10]}", redis_server_url)


def one_line_error(result: Any) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(lines[0])


def test_ls_lists_letters_and_filters_them(box: Box) -> None:
    first, second, third = box.set_aside(
        (hold, "hold-1", ("a",)), (boom, "boom-1", ("b",)), (hold, "hold-2", ("c",))
    )

    listed = box.cli("ls")
    assert listed.returncode == 0, listed.stderr
    for column in ("ID", "Key", "Task", "Reason", "Worker", "Attempt", "Set Aside"):
        assert column in listed.stdout
    for letter_id, key in ((first, "hold-1"), (second, "boom-1"), (third, "hold-2")):
        assert letter_id in listed.stdout and key in listed.stdout
    assert "unknown task 'hold'" in listed.stdout
    assert f"3 dead letters in docket {box.name!r}" in listed.stdout
    assert box.url not in listed.stdout

    by_task = box.cli("ls", "--task", "boom")
    assert second in by_task.stdout and first not in by_task.stdout
    by_reason = box.cli("ls", "--reason", "'hold'", "--limit", "1")
    assert third in by_reason.stdout and first not in by_reason.stdout
    assert "1 dead letter in docket" in by_reason.stdout


def test_ls_reads_the_docket_and_url_from_the_environment(box: Box) -> None:
    [letter_id] = box.set_aside((hold, "env-1", ("a",)))
    result = docket_cli("dead-letters", "ls", env={"DOCKET_NAME": box.name, "DOCKET_URL": box.url})
    assert result.returncode == 0, result.stderr
    assert letter_id in result.stdout


def test_show_prints_everything_with_the_arguments_decoded(box: Box) -> None:
    [letter_id] = box.set_aside((hold, "show-1", ("release-me",)))
    [letter] = box.letters()

    shown = box.cli("show", letter_id)
    assert shown.returncode == 0, shown.stderr
    for needle in (
        letter_id,
        "show-1",
        "hold",
        "unknown task 'hold'",
        "('release-me',)",
        "{}",
        f"{len(letter.payload or b'')} bytes",
        str(letter.worker),
        str(letter.delivery),
        "expires",
    ):
        assert needle in shown.stdout, needle

    assert "no dead letter '0-1'" in one_line_error(box.cli("show", "0-1"))


def test_replay_schedules_the_message_again_and_removes_the_letter(box: Box) -> None:
    first, second = box.set_aside((hold, "replay-1", ("one",)), (hold, "replay-2", ("two",)))

    result = box.cli("replay", first)
    assert result.returncode == 0, result.stderr
    assert f"Replayed {first} as 'replay-1' (hold)" in result.stdout
    execution, _ = box.execution("replay-1")
    assert execution is not None and execution.state is ExecutionState.QUEUED
    assert (execution.args, execution.attempt) == (("one",), 1)

    later = box.cli("replay", second, "--when", "1h", "--key", "replay-2b")
    assert later.returncode == 0, later.stderr
    execution, now = box.execution("replay-2b")
    assert execution is not None and execution.state is ExecutionState.SCHEDULED
    assert timedelta(minutes=59) < execution.when - now <= timedelta(hours=1)
    assert box.letters() == []

    assert f"letter {first!r}: no such dead letter" in one_line_error(box.cli("replay", first))


def test_replaying_onto_a_live_key_keeps_the_letter(box: Box) -> None:
    [letter_id] = box.set_aside((hold, "live-1", ("x",)))

    async def park() -> None:
        async with Docket(box.name, box.url) as docket:
            await docket.add(hold, key="live-2", when=docket.clock.now() + timedelta(hours=1))("z")

    asyncio.run(park())
    result = box.cli("replay", letter_id, "--key", "live-2")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    *_, said, last = result.stderr.strip().splitlines()
    assert f"Not replayed {letter_id}: key 'live-2' is still scheduled" in said
    assert last == "error: 1 of 1 not replayed"
    assert [d.id for d in box.letters()] == [letter_id]


def test_replaying_several_needs_yes(box: Box) -> None:
    first, second = box.set_aside((hold, "many-1", ("1",)), (hold, "many-2", ("2",)))

    refused = box.cli("replay", first, second)
    assert "add --yes" in one_line_error(refused)
    assert len(box.letters()) == 2
    assert "one letter id only" in one_line_error(
        box.cli("replay", first, second, "--yes", "--key", "k")
    )

    done = box.cli("replay", first, second, "--yes")
    assert done.returncode == 0, done.stderr
    assert box.letters() == []


def test_purge_needs_yes_and_one_way_of_choosing(box: Box) -> None:
    ids = box.set_aside(
        (hold, "p-1", ("1",)), (boom, "p-2", ("2",)), (hold, "p-3", ("3",)), (boom, "p-4", ("4",))
    )

    assert "add --yes" in one_line_error(box.cli("purge", "--all"))
    assert "exactly one" in one_line_error(box.cli("purge", "--yes"))
    assert "exactly one" in one_line_error(box.cli("purge", ids[0], "--all", "--yes"))
    assert len(box.letters()) == 4

    one = box.cli("purge", ids[0], "--yes")
    assert one.returncode == 0, one.stderr
    assert f"Removed 1 dead letter from docket {box.name!r}" in one.stdout
    by_task = box.cli("purge", "--task", "boom", "--yes")
    assert "Removed 2 dead letters" in by_task.stdout
    assert [d.key for d in box.letters()] == ["p-3"]
    assert "Removed 0 dead letters" in box.cli("purge", "--reason", "nothing", "--yes").stdout
    assert "Removed 1 dead letter" in box.cli("purge", "--all", "--yes").stdout
    assert box.letters() == []


def test_errors_are_one_line_and_hide_the_password(box: Box) -> None:
    line = one_line_error(
        docket_cli("dead-letters", "ls", "--url", "redis://:secret@127.0.0.1:1/0")
    )
    assert "redis://:***@127.0.0.1:1/0" in line and "secret" not in line
    [letter_id] = box.set_aside((hold, "bad-when", ("x",)))
    assert "invalid --when 'soon'" in one_line_error(box.cli("replay", letter_id, "--when", "soon"))
    assert [d.id for d in box.letters()] == [letter_id]
