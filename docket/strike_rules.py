"""Strike rules: what a strike names, how it is sent, and how a call is matched against it.

A strike names a task, a parameter, or both:

* a task alone strikes every call of that task;
* a parameter alone strikes a call of any task whose argument of that name
  matches ``operator value``;
* both strike only that task's calls whose argument matches.

``Strike`` and ``Restore`` are the instructions that add and remove a rule
(pydocket's constructors); ``RuleSet`` is the set in force and its matching.
The rules live in the docket's storage; ``docket.strikelist.StrikeList``
keeps a ``RuleSet`` in step with them.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from typing_extensions import Self

from docket.serialization import encode_value

__all__ = [
    "LiteralOperator",
    "Operator",
    "Restore",
    "RuleSet",
    "Strike",
    "StrikeInstruction",
    "StrikeRule",
    "call_arguments",
    "rule_from_json",
    "rule_id",
    "rule_to_json",
]

logger = logging.getLogger("docket.strikelist")


LiteralOperator = Literal["==", "!=", ">", ">=", "<", "<=", "between"]
"""The operators as the strings callers may pass."""


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


class StrikeInstruction:
    """A change to the strike list: add (``Strike``) or remove (``Restore``) a rule.

    Built as pydocket builds it, from the rule's parts; ``rule`` is the
    checked rule (bad parts raise, naming the parameter and the value).
    """

    direction: Literal["strike", "restore"]

    def __init__(
        self,
        function: str | None,
        parameter: str | None,
        operator: Operator | LiteralOperator,
        value: Hashable,
    ) -> None:
        self.rule = StrikeRule.build(function, parameter, operator, value)

    @classmethod
    def of(cls, rule: StrikeRule) -> Self:
        """The instruction for an already checked ``rule``."""
        instruction = cls.__new__(cls)
        instruction.rule = rule
        return instruction

    @property
    def function(self) -> str | None:
        return self.rule.function

    @property
    def parameter(self) -> str | None:
        return self.rule.parameter

    @property
    def operator(self) -> Operator:
        return self.rule.operator

    @property
    def value(self) -> Any:
        return self.rule.value

    def labels(self) -> Mapping[str, str]:
        """Metric and log labels naming what the rule strikes."""
        labels: dict[str, str] = {}
        if self.function:
            labels["docket.task"] = self.function
        if self.parameter:
            labels["docket.parameter"] = self.parameter
            labels["docket.operator"] = self.operator.value
            labels["docket.value"] = repr(self.value)
        return labels

    def call_repr(self) -> str:
        """``task(parameter operator value)``, with ``*`` for what the rule leaves open."""
        value = repr(self.value) if self.parameter else "*"
        return f"{self.function or '*'}({self.parameter or '*'} {self.operator.value} {value})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StrikeInstruction)
            and other.direction == self.direction
            and other.rule == self.rule
        )

    def __hash__(self) -> int:
        return hash((self.direction, self.rule))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.call_repr()})"


class Strike(StrikeInstruction):
    """Add a rule."""

    direction: Literal["strike", "restore"] = "strike"


class Restore(StrikeInstruction):
    """Remove exactly this rule (same function, parameter, operator and value)."""

    direction: Literal["strike", "restore"] = "restore"


class RuleSet:
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

    def matches(
        self,
        function_name: str | None,
        arguments: Mapping[str, Any],
    ) -> bool:
        """Whether a call of ``function_name`` with these named arguments is struck.

        With no ``function_name`` only parameter rules (those naming no task)
        can match: a bare mapping of arguments, as ``StrikeList.is_stricken``
        takes it.

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


def rule_id(rule: StrikeRule) -> str:
    """A stable id for a rule, so a restore finds exactly the strike it lifts."""
    value_digest = hashlib.sha256(encode_value(rule.value)).hexdigest()[:32]
    return "\x1f".join(
        [rule.function or "*", rule.parameter or "*", rule.operator.value, value_digest]
    )


def rule_to_json(rule: StrikeRule) -> dict[str, Any]:
    """A rule as JSON values, for the JSON codec (a ``between`` pair becomes a list)."""
    value = list(rule.value) if isinstance(rule.value, tuple) else rule.value
    return {
        "function": rule.function,
        "parameter": rule.parameter,
        "operator": rule.operator.value,
        "value": value,
    }


def rule_from_json(data: Any) -> StrikeRule:
    """The rule ``rule_to_json`` stored, checked as ``StrikeRule.build`` checks user input."""
    if not isinstance(data, dict) or set(data) != {"function", "parameter", "operator", "value"}:
        raise ValueError("a JSON strike rule must hold function, parameter, operator and value")
    return StrikeRule.build(data["function"], data["parameter"], data["operator"], data["value"])
