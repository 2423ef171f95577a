"""``StrikeList`` on its own, as pydocket's users use it.

Pinned here: ``StrikeList(url, name)`` entered as an async context manager
reads the strikes of docket ``name`` and follows them; its ``strike`` and
``restore`` reach every Docket of that name (and a Docket's reach it);
``is_stricken`` takes an execution or a mapping of arguments (matched against
parameter-only rules); ``add_condition`` adds a predicate of executions.
``StrikeList()`` with no URL holds rules locally (``update``); sending an
instruction without being connected raises ``RuntimeError``.
"""

from __future__ import annotations

import pytest

from conformance.conftest import Target
from docket import Disposition, StrikeList
from docket.strikelist import Operator, Restore, Strike


async def charge(customer: str, amount: int) -> None: ...


async def test_a_standalone_strike_list_shares_the_dockets_strikes(target: Target) -> None:
    async with target.docket() as docket:
        async with StrikeList(url=docket.url, name=docket.name, clock=target.clock) as strikes:
            await docket.strike(None, "customer", "==", "mallory")

            async def sees_docket_strike() -> bool:
                return strikes.is_stricken({"customer": "mallory"})

            await target.eventually(sees_docket_strike, what="the docket's strike")
            assert not strikes.is_stricken({"customer": "alice"})
            assert strikes.parameter_strikes == {"customer": {(Operator.EQUAL, "mallory")}}

            await strikes.strike("charge", "amount", ">", 1000)

            async def docket_sees_it() -> bool:
                execution = await docket.add(charge)("bob", 5000)
                return execution.disposition is Disposition.STRUCK

            await target.eventually(docket_sees_it, what="the strike list's strike")
            assert strikes.task_strikes == {"charge": {"amount": {(Operator.GREATER_THAN, 1000)}}}
            small = await docket.add(charge)("bob", 10)
            assert small.disposition is Disposition.SCHEDULED
            assert not strikes.is_stricken(small)

            await strikes.restore("charge", "amount", ">", 1000)
            await strikes.restore(None, "customer", "==", "mallory")
            await strikes.wait_for_strikes_loaded()
            assert strikes.task_strikes == {} and strikes.parameter_strikes == {}


async def test_a_condition_strikes_the_executions_it_matches(target: Target) -> None:
    async with target.docket() as docket:
        execution = await docket.add(charge)("carol", 1)
        strikes = StrikeList()

        def big_spenders(candidate: object) -> bool:
            return getattr(candidate, "kwargs", {}).get("amount", 0) > 100 or (
                getattr(candidate, "args", (None, 0))[1] > 100
            )

        def everything(candidate: object) -> bool:
            return True

        assert not strikes.is_stricken(execution)
        strikes.add_condition(everything)
        assert strikes.is_stricken(execution)
        strikes.remove_condition(everything)
        assert not strikes.is_stricken(execution)
        strikes.add_condition(big_spenders)
        assert not strikes.is_stricken(execution)
        strikes.remove_condition(big_spenders)


def test_a_local_strike_list_applies_instructions_it_is_given() -> None:
    strikes = StrikeList()
    strikes.update(Strike(None, "customer", Operator.EQUAL, "blocked"))
    assert strikes.is_stricken({"customer": "blocked"})
    assert not strikes.is_stricken({"customer": "fine"})
    strikes.update(Restore(None, "customer", "==", "blocked"))
    assert not strikes.is_stricken({"customer": "blocked"})
    assert Strike("charge", None, "==", None).call_repr() == "charge(* == *)"
    assert Strike(None, "amount", ">", 5).labels() == {
        "docket.parameter": "amount",
        "docket.operator": ">",
        "docket.value": "5",
    }


async def test_sending_without_a_connection_is_refused() -> None:
    strikes = StrikeList()
    with pytest.raises(RuntimeError, match="not connected"):
        await strikes.strike("charge")
    with pytest.raises(ValueError, match="operator"):
        Strike("charge", "amount", "~", 5)  # type: ignore[arg-type]
