"""Strikes: rules that stop tasks, or tasks whose arguments match, without a redeploy.

A strike names a task, a parameter, or both:

* a task alone strikes every call of that task;
* a parameter alone strikes a call of any task whose argument of that name
  matches ``operator value``;
* both strike only that task's calls whose argument matches.

The rules live in the docket's storage, so every Docket and Worker of that
name sees them; ``StrikeList`` is the local matcher each one keeps in step.
"""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Operator", "Restore", "Strike", "StrikeInstruction", "StrikeList", "StrikeRule"]

logger = logging.getLogger("docket.strikelist")


class Operator(str, enum.Enum):
    """How a strike compares an argument with its value."""

    EQUAL = "=="
    NOT_EQUAL = "!="
    GREATER_THAN = ">"
    GREATER_THAN_OR_EQUAL = ">="
    LESS_THAN = "<"
    LESS_THAN_OR_EQUAL = "<="
    BETWEEN = "between"

    def __str__(self) -> str:
        return self.value

    def matches(self, argument: Any, value: Any) -> bool:
        """Whether ``argument operator value`` holds (``between`` is inclusive)."""
        if self is Operator.EQUAL:
            return bool(argument == value)
        if self is Operator.NOT_EQUAL:
            return bool(argument != value)
        if self is Operator.GREATER_THAN:
            return bool(argument > value)
        if self is Operator.GREATER_THAN_OR_EQUAL:
            return bool(argument >= value)
        if self is Operator.LESS_THAN:
            return bool(argument < value)
        if self is Operator.LESS_THAN_OR_EQUAL:
            return bool(argument <= value)
        lower, upper = value
        return bool(lower <= argument <= upper)


@dataclass(frozen=True)
class StrikeRule:
    """One rule: ``function`` and/or ``parameter``, compared with ``operator value``."""

    function: str | None
    parameter: str | None
    operator: Operator
    value: Any

    @classmethod
    def build(
        cls,
        function: Callable[..., Any] | str | None,
        parameter: str | None,
        operator: Operator | str,
        value: Any,
    ) -> StrikeRule:
        """Validate user input into a rule; errors name the bad parameter."""
        if function is not None and not isinstance(function, str):
            if not callable(function):
                raise TypeError(f"function must be a task, a task name or None, got {function!r}")
            function = getattr(function, "__name__", None)
            if not isinstance(function, str):
                raise ValueError("function has no __name__; pass the task's name")
        if function is not None and not function:
            raise ValueError(f"function must not be empty, got {function!r}")
        if parameter is not None and (not isinstance(parameter, str) or not parameter):
            raise ValueError(f"parameter must be a non-empty string or None, got {parameter!r}")
        if function is None and parameter is None:
            raise ValueError("strike needs a function, a parameter, or both; got neither")
        try:
            operator = Operator(operator)
        except ValueError:
            raise ValueError(
                f"operator must be one of {[o.value for o in Operator]}, got {operator!r}"
            ) from None
        if operator is Operator.BETWEEN and (
            not isinstance(value, (tuple, list)) or len(value) != 2
        ):
            raise ValueError(f"value for 'between' must be a (lower, upper) pair, got {value!r}")
        if isinstance(value, list):
            value = tuple(value)
        try:
            hash(value)
        except TypeError:
            raise ValueError(f"value must be hashable, got {value!r}") from None
        return cls(function, parameter, operator, value)

    def describe(self) -> str:
        target = self.function or "*"
        if self.parameter is None:
            return target
        return f"{target}({self.parameter} {self.operator.value} {self.value!r})"


@dataclass(frozen=True)
class StrikeInstruction:
    """A change to the strike list: add (``Strike``) or remove (``Restore``) a rule."""

    rule: StrikeRule


class Strike(StrikeInstruction):
    """Add a rule."""


class Restore(StrikeInstruction):
    """Remove exactly this rule (same function, parameter, operator and value)."""


class StrikeList:
    """The set of rules in force, and the matching of calls against them."""

    def __init__(self, rules: Iterable[StrikeRule] = ()) -> None:
        self.rules: set[StrikeRule] = set(rules)

    def replace_all(self, rules: Iterable[StrikeRule]) -> None:
        """Make ``rules`` the whole set in force."""
        self.rules = set(rules)

    def update(self, instruction: StrikeInstruction) -> None:
        """Apply one Strike or Restore."""
        if isinstance(instruction, Restore):
            self.rules.discard(instruction.rule)
        else:
            self.rules.add(instruction.rule)

    def is_stricken(
        self,
        function_name: str,
        arguments: Mapping[str, Any],
    ) -> bool:
        """Whether a call of ``function_name`` with these named arguments is struck.

        A comparison that raises (say, ``"a" > 1``) is logged and counts as no
        match: a bad strike must never break scheduling or a worker.
        """
        for rule in self.rules:
            if rule.function is not None and rule.function != function_name:
                continue
            if rule.parameter is None:
                return True
            if rule.parameter not in arguments:
                continue
            try:
                if rule.operator.matches(arguments[rule.parameter], rule.value):
                    return True
            except Exception as error:
                logger.warning(
                    "Strike %s could not compare %r: %s: %s",
                    rule.describe(),
                    arguments[rule.parameter],
                    type(error).__name__,
                    error,
                )
        return False

    def __len__(self) -> int:
        return len(self.rules)


def call_arguments(
    function: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """A call's arguments by parameter name, defaults applied, for strike matching."""
    if function is None:
        return dict(kwargs)
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return dict(kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    return arguments
