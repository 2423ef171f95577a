"""Signed payloads: with a signing key, nothing unsigned or wrongly signed is ever decoded.

Pinned here, on every target: forged entries written straight through the
engine (unsigned, signed with another key, or signed for another place)
never run code.  A forged payload is set aside as a dead letter with the
reason "bad signature"; a forged result or exception makes ``get_result``
raise ``BadSignature``; a forged strike rule is ignored and logged; a forged
dead letter cannot be decoded or replayed.  Keys rotate under a running
worker with no work lost.
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any

import pytest

from conformance.conftest import Target
from conformance.test_results import DictStore
from docket import Docket, ExecutionState, Worker
from docket.engines.base import TaskMessage
from docket.errors import BadSignature
from docket.serialization import STRIKE, Codec, encode_call, encode_value
from docket.strike_rules import StrikeRule
from docket.timeutil import truncate_to_ms

KEY = b"the docket's own key"
OLD_KEY = "the key before rotation"
NEW_KEY = "the key after rotation"

executed: list[str] = []
"""Tags of forged objects whose decoding ran code: must stay empty."""

ran: list[Any] = []


def ran_code(tag: str) -> str:
    """What decoding a forged object calls: proof that code ran."""
    executed.append(tag)
    return tag


class Evil:
    """An object whose unpickling runs ``ran_code``, as an attacker's would run anything."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return ran_code, (self.tag,)


class EvilError(Exception):
    """An exception whose unpickling runs ``ran_code``."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return ran_code, ("exception",)


async def victim(value: Any = None) -> None:
    ran.append(value)


async def make_evil() -> Evil:
    return Evil("result")


async def raise_evil() -> None:
    raise EvilError("forged")


async def count(n: int) -> int:
    ran.append(n)
    return n * 10


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_SIGNING_KEY", raising=False)
    executed.clear()
    ran.clear()


async def run_all(target: Target, docket: Docket) -> None:
    async with Worker(docket, concurrency=2) as worker:
        await target.drive(worker.run_until_finished())


async def test_forged_payloads_are_set_aside_unread(target: Target) -> None:
    forged = {
        "unsigned": encode_call("victim", (Evil("unsigned"),), {}),
        "other-key": Codec("pickle", b"another key").encode_call(
            "victim", (Evil("other-key"),), {}
        ),
        # Signed with the right key, but for another task: moved, not made, here.
        "moved": Codec("pickle", KEY).encode_call("count", (Evil("moved"),), {}),
        "truncated": Codec("pickle", KEY).encode_call("victim", (1,), {})[:20],
    }
    async with target.docket(signing_key=KEY) as docket:
        docket.register(victim)
        now = truncate_to_ms(target.now())
        for key, payload in forged.items():
            message = TaskMessage(key=key, function_name="victim", payload=payload, when=now)
            await docket.engine.schedule(message, now, replace=False)
        honest = await docket.add(victim, key="honest")("fine")
        await run_all(target, docket)

        assert executed == []
        assert ran == ["fine"]
        await honest.sync()
        assert honest.state is ExecutionState.COMPLETED
        letters = await docket.dead_letters(reason="bad signature")
        assert sorted(letter.key for letter in letters) == sorted(forged)
        for key in forged:
            execution = await docket.get_execution(key)
            assert execution is not None and execution.state is ExecutionState.FAILED
            assert execution.error is not None and "bad signature" in execution.error
            assert execution.args == ()  # the producer's view did not decode it either
        assert executed == []


@pytest.mark.parametrize("forger_key", [None, b"another key"], ids=["unsigned", "other-key"])
async def test_a_forged_result_or_exception_raises_bad_signature(
    target: Target, forger_key: bytes | None
) -> None:
    async with (
        target.docket(signing_key=forger_key) as forger,
        target.docket(signing_key=KEY) as docket,
    ):
        await forger.add(make_evil, key="result")()
        await forger.add(raise_evil, key="error")()
        await run_all(target, forger)
        for key in ("result", "error"):
            execution = await docket.get_execution(key)
            assert execution is not None
            with pytest.raises(BadSignature, match="bad signature"):
                await execution.get_result()
        assert executed == []


async def test_a_result_signed_for_another_key_is_refused(target: Target) -> None:
    """A genuine result copied onto another execution's record does not verify there."""
    codec = Codec("pickle", KEY)
    async with target.docket(signing_key=KEY) as docket:
        docket.register(count)
        execution = await docket.add(count, key="real")(4)
        await run_all(target, docket)
        assert await execution.get_result() == 40
        moved = codec.encode_value(40, "real")
        with pytest.raises(BadSignature):
            codec.decode_value(moved, "elsewhere")
        assert codec.decode_value(moved, "real") == 40


async def test_a_forged_result_in_the_result_storage_raises_bad_signature(target: Target) -> None:
    store = DictStore()
    async with target.docket(signing_key=KEY, result_storage=store) as docket:
        docket.register(count)
        genuine = await docket.add(count)(2)
        forged = await docket.add(count)(3)
        await run_all(target, docket)
        assert await genuine.get_result() == 20
        stored_at = f"{forged.key}:{forged.generation}"
        assert stored_at in store.data
        planted = base64.b64encode(encode_value(Evil("stored"))).decode("ascii")
        store.data[stored_at] = ({"data": planted}, None)
        reread = await docket.get_execution(forged.key)
        assert reread is not None
        with pytest.raises(BadSignature, match="bad signature"):
            await reread.get_result()
    assert executed == []


async def test_forged_strike_rules_are_ignored_and_logged(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    rule = StrikeRule.build("victim", None, "==", None)
    async with target.docket(signing_key=KEY) as writer:
        engine = writer.engine
        await engine.update_strikes("unsigned", encode_value(Evil("strike")))
        await engine.update_strikes(
            "other-key", Codec("pickle", b"another key").encode_object(STRIKE, "other-key", rule)
        )
        await engine.update_strikes("moved", Codec("pickle", KEY).encode_object(STRIKE, "x", rule))
        with caplog.at_level(logging.WARNING, logger="docket.strikelist"):
            async with target.docket(signing_key=KEY) as docket:
                assert len(docket.strike_list) == 0
                docket.register(victim)
                await docket.add(victim)("not struck")
                await run_all(target, docket)
                assert ran == ["not struck"]
                await docket.strike("victim")
            async with target.docket(signing_key=KEY) as reader:
                assert [r.function for r in reader.strike_list.rules.rules] == ["victim"]
    flagged = {r.getMessage() for r in caplog.records if "bad signature" in r.getMessage()}
    for stored_id in ("unsigned", "other-key", "moved"):
        assert any(repr(stored_id) in line for line in flagged), (stored_id, flagged)
    assert executed == []


async def test_a_forged_dead_letter_is_neither_decoded_nor_replayed(target: Target) -> None:
    async with target.docket(signing_key=KEY) as docket:
        engine = docket.engine
        now = truncate_to_ms(target.now())
        payload = encode_call("victim", (Evil("letter"),), {})
        message = TaskMessage(key="forged", function_name="victim", payload=payload, when=now)
        await engine.schedule(message, now, replace=False)
        batch = await engine.claim("forger", 1, now, now + timedelta(minutes=1))
        [claim] = batch.claims
        await engine.set_aside(claim.delivery, "planted", now, timedelta(minutes=1))
        [letter] = await docket.dead_letters()
        assert letter.payload == payload
        with pytest.raises(BadSignature, match=letter.id):
            from docket.dead_letters import decode_arguments

            decode_arguments(letter, docket.codec)
        with pytest.raises(BadSignature, match="bad signature"):
            await docket.replay_dead_letter(letter, key="replayed")
        assert await docket.get_execution("replayed") is None
        assert await docket.dead_letter(letter.id) == letter
    assert executed == []


async def test_keys_rotate_under_a_running_worker_with_no_work_lost(target: Target) -> None:
    """Producers move from the old key to the new while one worker, holding both, keeps
    running; then the worker itself moves to signing with the new key, with work queued."""
    old_only = target.docket(signing_key=OLD_KEY)
    new_first = target.docket(signing_key=[NEW_KEY, OLD_KEY])
    new_only = target.docket(signing_key=NEW_KEY)
    first_worker = target.docket(signing_key=[OLD_KEY, NEW_KEY])
    second_worker = target.docket(signing_key=[NEW_KEY, OLD_KEY])
    for docket in (old_only, new_first, new_only, first_worker, second_worker):
        docket.register(count)
    async with old_only as before, new_first as during, new_only as after:
        async with first_worker, target.running_worker(first_worker):
            added = [await before.add(count)(n) for n in range(5)]
            added += [await during.add(count)(n) for n in range(5, 10)]
            added += [await after.add(count)(n) for n in range(10, 15)]
            for execution in added:
                # The worker signs results with the old key; `during` reads both.
                reread = await during.get_execution(execution.key)
                assert reread is not None
                assert await target.drive(reread.get_result()) == reread.args[0] * 10
        queued = [await before.add(count)(n) for n in range(15, 20)]
        async with second_worker, target.running_worker(second_worker):
            queued += [await after.add(count)(n) for n in range(20, 25)]
            for execution in queued:
                # Now results are signed with the new key, which `after` alone reads.
                reread = await after.get_execution(execution.key)
                assert reread is not None
                assert await target.drive(reread.get_result()) == execution.args[0] * 10
        assert sorted(ran) == list(range(25))
        assert await during.dead_letters() == []
    assert executed == []


async def test_a_docket_without_a_key_refuses_signed_entries(target: Target) -> None:
    async with target.docket(signing_key=KEY) as signed, target.docket() as unsigned:
        signed.register(count)
        execution = await signed.add(count, key="signed")(3)
        await run_all(target, signed)
        assert await execution.get_result() == 30
        reread = await unsigned.get_execution("signed")
        assert reread is not None
        with pytest.raises(BadSignature, match="no signing key"):
            await reread.get_result()
