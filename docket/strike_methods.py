"""The ``Docket`` methods on strikes: striking, restoring and asking what is struck.

``StrikeMethods`` holds them (``Docket`` inherits them, so they are
documented there too); the rules and their matching are
``docket.strike_rules``', the copy kept in step with storage is the
docket's ``StrikeList``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from docket.instrumentation import producer_span
from docket.strike_rules import LiteralOperator, Operator, Restore, Strike, StrikeRule
from docket.strikelist import StrikeList

__all__ = ["StrikeMethods"]

TaskFunction = Callable[..., Any]


class StrikeMethods:
    """The ``Docket`` methods on strikes (``Docket`` inherits them)."""

    name: str
    strike_list: StrikeList

    async def wait_for_strikes_loaded(self) -> None:
        """Return once the strikes in storage are known (entering the docket waits for it)."""
        await self.strike_list.wait_for_strikes_loaded()

    async def strike(
        self,
        function: TaskFunction | str | None = None,
        parameter: str | None = None,
        operator: Operator | LiteralOperator = "==",
        value: Hashable | None = None,
    ) -> None:
        """Stop a task, a parameter value of any task, or both, until restored.

        Struck work is refused by ``add`` (disposition STRUCK) and cancelled
        when a worker meets it.  Strikes reach every Docket and Worker of
        this docket's name.
        """
        rule = StrikeRule.build(function, parameter, operator, value)
        with producer_span("strike", self.name, Strike.of(rule).labels()):
            await self.strike_list.send_instruction(Strike.of(rule))

    async def restore(
        self,
        function: TaskFunction | str | None = None,
        parameter: str | None = None,
        operator: Operator | LiteralOperator = "==",
        value: Hashable | None = None,
    ) -> None:
        """Lift exactly the strike made with the same arguments."""
        rule = StrikeRule.build(function, parameter, operator, value)
        with producer_span("restore", self.name, Restore.of(rule).labels()):
            await self.strike_list.send_instruction(Restore.of(rule))

    def is_stricken(
        self,
        function_name: str,
        function: TaskFunction | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bool:
        """Whether a call is struck by the rules in force."""
        return self.strike_list.matches_call(function_name, function, args, kwargs)
