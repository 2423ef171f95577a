"""The batched schedule script, and the one-message script, store exactly what
one call per message of the previous release's schedule script stored (workers
of that release read it).

``lua/scheduling.lua`` carries what a batch shares from one message to the
next (the generation counter, the queue's size, the due work to add); the
reference below is the previous release's one-message script, run once per
message on a second docket of the same server, and today's ``lua/schedule.lua``
(built on common.lua alone) runs once per message on a third.  Every key of
the three dockets, every event published and every reply must then agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from importlib import resources
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ReadOnlyError

from conformance.redis_server import start_redis_server
from docket.engines.base import ScheduleResult, TaskMessage
from docket.engines.redis import RedisEngine
from docket.engines.redis.scheduling import schedule_args
from docket.timeutil import epoch_ms
from tests.test_engine_contract import at, message

# lua/common.lua, which the loader prepends to every script.
COMMON = resources.files("docket.engines.redis").joinpath("lua", "common.lua").read_text("utf-8")

# The previous release's scheduling.lua and schedule.lua.
REFERENCE = """
local function schedule_one(record, key, fn, payload, when, attempt, headers, now, replace,
                            events, queue, future, stream, counter, wakes)
  local current, err = read_fields(record, 'state', 'generation', 'message_id')
  if current == nil then
    return {'error', err}
  end
  if LIVE[current[1]] then
    if replace ~= '1' then
      return {'exists', redis.call('HGETALL', record)}
    end
    withdraw(queue, future, stream, key, current)
  end
  local generation = next_generation(counter)
  local state, woke = place(queue, future, wakes, key, generation, when, now)
  store(record, key, fn, payload, when, attempt, headers, generation, state)
  publish(events, key, state, generation)
  return {'scheduled', generation, state, woke and 1 or 0}
end
return schedule_one(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8], ARGV[9], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
"""

BATCHES: list[tuple[bool, list[TaskMessage]]] = [
    # The queue empty, filled, emptied by a replace and filled again: two wake-ups.
    (True, [message("z"), message("z", at(50)), message("z")]),
    (
        False,
        [
            message("a"),
            message("b", headers={"traceparent": "00-x"}),
            message("c", at(60)),
            message("d", at(30)),
            message("e", at(30)),
            message("a", payload=b"again"),
            message("finished"),
            message("later", at(90), attempt=3),
        ],
    ),
    (
        True,
        [
            message("a", at(10)),
            message("c"),
            message("f"),
            message("f", at(5)),
            message("d", at(1)),
            message("g"),
        ],
    ),
    (False, [message("a"), message("h", at(2)), message("i")]),
    (True, [message("b", at(120)), message("i", at(0.5)), message("b")]),
]


def normalised(reply: Any) -> Any:
    """A reply of either script as (status, generation, state, woke) or (status, fields)."""
    if isinstance(reply, int):
        generation, flags = divmod(reply, 4)
        state = b"scheduled" if flags & 2 else b"queued"
        return (b"scheduled", generation, state, flags & 1)
    if reply[0] == b"scheduled":
        return (b"scheduled", int(reply[1]), reply[2], reply[3])
    return tuple(reply)


async def dump(client: Redis, prefix: str) -> dict[str, Any]:
    """Every key under ``prefix``, named without it, with its contents (wake entries counted)."""
    contents: dict[str, Any] = {}
    async for raw in client.scan_iter(match=f"{prefix}*"):
        name = raw.decode()
        kind = (await client.type(name)).decode()
        short = name[len(prefix) :]
        if kind == "hash":
            value: Any = await client.hgetall(name)
        elif kind == "zset":
            value = await client.zrange(name, 0, -1, withscores=True)
        elif kind == "string":
            value = await client.get(name)
        elif kind == "stream":
            value = [fields for _, fields in await client.xrange(name)]
        else:
            value = None
        contents[short] = (kind, value, await client.ttl(name) > 0)
    return contents


SIDES = ("reference", "batched", "single")


async def test_a_batch_and_a_single_schedule_store_what_the_reference_stored(
    redis_server_url: str,
) -> None:
    client: Redis = Redis.from_url(redis_server_url)
    engines = [
        RedisEngine.from_url(redis_server_url, f"storage-{side}-{uuid.uuid4().hex[:8]}")
        for side in SIDES
    ]
    reference, batched, single = engines
    for engine in engines:
        await engine.open()
    pubsub = client.pubsub()
    try:
        await pubsub.psubscribe(*(f"{engine.keys.events_prefix}*" for engine in engines))
        reference_sha = await client.script_load(COMMON + REFERENCE)

        async def reference_schedule(one: TaskMessage, now: datetime, replace: bool) -> Any:
            """One message through the previous release's schedule.lua, on the reference docket."""
            keys = reference.keys
            return await client.evalsha(
                reference_sha,
                6,
                keys.record(one.key),
                keys.queue,
                keys.future,
                keys.stream,
                keys.generation,
                keys.wake,
                *schedule_args(one),
                epoch_ms(now),
                "1" if replace else "0",
                keys.events_prefix,
            )

        for engine in engines:
            # A record that ended (a result, an expiry) under a key scheduled anew.
            record = engine.keys.record("finished")
            await client.hset(record, mapping={"state": "completed", "result": b"r", "key": "x"})
            await client.pexpire(record, 60_000)
        replies: dict[str, list[Any]] = {side: [] for side in SIDES}
        for replace, batch in BATCHES:
            now = at(0)
            for one in batch:
                reply = await reference_schedule(one, now, replace)
                replies["reference"].append(normalised(reply))
                keys = single.keys
                reply = await single._session.run(
                    "schedule",
                    [keys.record(one.key), keys.queue, keys.future, keys.stream]
                    + [keys.generation, keys.wake],
                    [*schedule_args(one), epoch_ms(now), "1" if replace else "0"]
                    + [keys.events_prefix],
                )
                replies["single"].append(normalised(reply))
            session = batched._session
            assert session._scripts is not None
            calls = [
                (
                    [batched.keys.queue, batched.keys.future, batched.keys.stream]
                    + [batched.keys.generation, batched.keys.wake]
                    + [batched.keys.record(one.key) for one in batch],
                    [epoch_ms(now), "1" if replace else "0", batched.keys.events_prefix]
                    + [value for one in batch for value in schedule_args(one)],
                )
            ]
            (reply,) = await session.run_many("schedule_many", calls)
            replies["batched"].extend(normalised(one) for one in reply)
            outcomes = await batched.schedule_many(batch, now, replace=replace)
            assert all(isinstance(outcome, ScheduleResult) for outcome in outcomes)
            # The same batch through the engine too: on the reference side, once more per message.
            for one in batch:
                await reference_schedule(one, now, replace)
                await single.schedule(one, now, replace=replace)

        assert replies["batched"] == replies["reference"]
        assert replies["single"] == replies["reference"]
        prefixes = [engine.keys.queue[: -len("queue")] for engine in engines]
        stored = [await dump(client, prefix) for prefix in prefixes]
        assert stored[0] and stored[1] == stored[0] and stored[2] == stored[0]
        events: dict[str, list[tuple[str, bytes]]] = {side: [] for side in SIDES}
        while (note := await pubsub.get_message(timeout=0.2)) is not None:
            if note["type"] != "pmessage":
                continue
            channel = note["channel"].decode()
            for side, engine in zip(SIDES, engines, strict=True):
                if channel.startswith(engine.keys.events_prefix):
                    events[side].append((channel[len(engine.keys.events_prefix) :], note["data"]))
        assert events["reference"] and events["batched"] == events["reference"]
        assert events["single"] == events["reference"]
    finally:
        await pubsub.aclose()
        for engine in engines:
            await engine.close()
        await client.aclose()


async def test_a_demoted_master_refuses_schedules_as_read_only() -> None:
    """A write refused inside the script keeps its error code: a sentinel client
    reads READONLY as "the master moved" and reconnects."""
    master = start_redis_server()
    demoted = start_redis_server()
    engine = RedisEngine.from_url(demoted.url, f"demoted-{uuid.uuid4().hex[:8]}")
    client: Redis = Redis.from_url(demoted.url)
    try:
        await engine.open()
        port = int(master.url.rsplit(":", 1)[1].split("/")[0])
        await client.execute_command("REPLICAOF", "127.0.0.1", port)

        with pytest.raises(ReadOnlyError):
            await engine.schedule(message("one"), at(0), replace=False)
        outcomes = await engine.schedule_many([message("a"), message("b")], at(0), replace=True)
        assert [type(outcome) for outcome in outcomes] == [ReadOnlyError, ReadOnlyError]
    finally:
        await engine.close()
        await client.aclose()
        demoted.stop()
        master.stop()
