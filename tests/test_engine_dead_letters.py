"""The dead-letter operations of the engine seam, alike on memory, Redis and fakeredis.

What a letter keeps of its message, when it expires and is dropped, how
listing skips expired letters, and removal by id; plus the ``Docket`` side
of what only storage can set up: a letter with no message to replay.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from docket import Docket, VirtualClock
from docket.dead_letters import decode_arguments
from docket.engines.base import Claim, Engine, TaskMessage
from docket.serialization import encode_call

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
TTL = timedelta(minutes=15)
RETENTION = timedelta(seconds=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def claimed(engine: Engine, key: str, payload: bytes = b"p") -> Claim:
    message = TaskMessage(
        key=key,
        function_name="task",
        payload=payload,
        when=at(0),
        attempt=3,
        headers={"traceparent": "00-abc"},
    )
    await engine.schedule(message, at(0), replace=False)
    [claim] = (await engine.claim("worker-1", 1, at(0), at(30))).claims
    return claim


async def set_aside(engine: Engine, claim: Claim, when: float, retention: timedelta) -> None:
    assert claim.record is not None
    await engine.set_aside(
        claim.delivery,
        "cannot run",
        at(when),
        TTL,
        key=claim.record.key,
        generation=claim.record.generation,
        retention=retention,
    )


async def test_a_letter_keeps_the_whole_message(engine: Engine) -> None:
    payload = encode_call("task", (1, "two"), {"three": 3.0})
    claim = await claimed(engine, "k", payload)
    await set_aside(engine, claim, 1, RETENTION)

    [letter] = await engine.dead_letters()
    assert (letter.key, letter.function_name, letter.payload) == ("k", "task", payload)
    assert (letter.when, letter.attempt, dict(letter.headers)) == (
        at(0),
        3,
        {"traceparent": "00-abc"},
    )
    assert (letter.worker, letter.delivery, letter.reason) == (
        "worker-1",
        claim.delivery,
        "cannot run",
    )
    assert (letter.set_aside_at, letter.expires_at) == (at(1), at(11))
    assert (letter.fields["delivery"], letter.fields["worker"]) == (claim.delivery, "worker-1")
    assert decode_arguments(letter) == ((1, "two"), {"three": 3.0})
    assert await engine.dead_letter(letter.id, at(5)) == letter


async def test_a_letter_of_a_stale_generation_or_unknown_delivery_has_no_message(
    engine: Engine,
) -> None:
    claim = await claimed(engine, "k")
    await engine.schedule(
        TaskMessage(key="k", function_name="other", payload=b"new", when=at(50)),
        at(1),
        replace=True,
    )
    await set_aside(engine, claim, 2, RETENTION)
    await engine.set_aside("12345-0", "no such delivery", at(3), TTL, retention=RETENTION)

    stale, unknown = await engine.dead_letters()
    assert (stale.key, stale.function_name, stale.payload, stale.attempt) == ("k", None, None, None)
    assert (unknown.key, unknown.payload, unknown.worker) == (None, None, None)
    assert unknown.delivery == "12345-0"


async def test_expired_letters_are_hidden_then_dropped(engine: Engine) -> None:
    first = await claimed(engine, "first")
    await set_aside(engine, first, 0, RETENTION)
    [old] = await engine.dead_letters()

    assert await engine.dead_letter(old.id, at(9.999)) == old
    assert await engine.dead_letter(old.id, at(10)) is None
    assert await engine.dead_letters(now=at(10)) == []
    assert await engine.dead_letters() == [old]

    second = await claimed(engine, "second")
    await set_aside(engine, second, 20, RETENTION)
    assert [letter.key for letter in await engine.dead_letters()] == ["second"]
    assert await engine.remove_dead_letters([old.id]) == 0


async def test_listing_skips_expired_letters_without_counting_them(engine: Engine) -> None:
    # The middle letter expires first: the listing must look past it.
    for key, retention in (("a", RETENTION), ("b", timedelta(seconds=1)), ("c", RETENTION)):
        await set_aside(engine, await claimed(engine, key), 0, retention)

    assert [d.key for d in await engine.dead_letters(2, at(5))] == ["a", "c"]
    assert [d.key for d in await engine.dead_letters(1, at(5))] == ["c"]
    assert [d.key for d in await engine.dead_letters(3)] == ["a", "b", "c"]


async def test_removing_letters_by_id(engine: Engine) -> None:
    for key in ("a", "b", "c"):
        await set_aside(engine, await claimed(engine, key), 0, RETENTION)
    a, b, c = await engine.dead_letters()

    assert await engine.remove_dead_letters([a.id, c.id, "no-such-id", "0-1", a.id]) == 2
    assert await engine.dead_letters() == [b]
    assert await engine.remove_dead_letters([]) == 0


async def test_a_letter_without_a_message_cannot_be_replayed(engine: Engine) -> None:
    await engine.set_aside("12345-0", "malformed message: junk", at(0), TTL)
    [letter] = await engine.dead_letters()
    with pytest.raises(ValueError, match="holds no arguments: malformed message: junk"):
        decode_arguments(letter)

    async with Docket(engine.name, engine.url, clock=VirtualClock(at(1))) as docket:
        with pytest.raises(ValueError, match=rf"letter {letter.id!r} holds no message to replay"):
            await docket.replay_dead_letter(letter.id)
        assert await docket.dead_letters() == [letter]
