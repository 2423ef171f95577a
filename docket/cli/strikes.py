"""``docket strike`` and ``docket restore``: stop (and resume) tasks without a deploy.

Arguments are ``[function] [parameter] [operator] [value]``, as in pydocket;
``*`` (or an empty argument) for the function or the parameter means "any"
(but not both).  Values are strings unless typed as ``type:value``, as
pydocket reads them: ``int:5``, ``float:1.5``, ``bool:true``, ``str:x``,
``none:``, ``datetime.timedelta:30`` (seconds, or a duration like ``5m``),
``datetime.datetime:2025-01-01T00:00:00+00:00``, ``decimal.Decimal:1.50``,
``uuid.UUID:...``, any other builtin type (``complex:1j``) or any
importable ``module.Type:text`` (called with the text).  Unlike pydocket,
text whose prefix names no type stays text (``https://example.com``), a
value may itself contain colons, and ``bool:`` refuses what is neither true
nor false.  ``between`` takes two values separated by a comma:
``int:1,int:10``.
"""

from __future__ import annotations

import builtins
import importlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import typer

from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, UrlOption, parse_duration
from docket.cli.support import CLIError, make_console, one_line, open_docket, run
from docket.strikelist import Operator, StrikeRule

__all__ = ["describe_rule", "parse_value", "restore", "strike"]

WILDCARDS = ("*", "")
"""What means "any" for the function or the parameter (pydocket takes both)."""
WILDCARD = WILDCARDS[0]

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}
_NONE = object()
"""Stands for the ``none:`` type, whose value is always None."""

_NAMED: dict[str, Any] = {
    "none": _NONE,
    "decimal.Decimal": Decimal,
    "uuid.UUID": UUID,
    "datetime.datetime": datetime,
    "datetime.date": date,
    "datetime.timedelta": timedelta,
}
# Not value types, so "type:admin" stays the text it looks like.
_NOT_VALUE_TYPES = (type, object, super)


def _bool(text: str) -> bool:
    if text.strip().lower() in _TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _builtin_type(name: str) -> type | None:
    found = getattr(builtins, name, None)
    if (
        isinstance(found, type)
        and found not in _NOT_VALUE_TYPES
        and not issubclass(found, BaseException)
    ):
        return found
    return None


def _value_type(type_name: str) -> Any:
    """The type (or converter) ``type_name`` names, or None when it names none (plain text)."""
    known = _NAMED.get(type_name) or _NAMED.get(type_name.lower())
    if known is not None:
        return known
    if "." not in type_name:
        return _builtin_type(type_name) or _builtin_type(type_name.lower())
    module_name, _, attribute = type_name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except Exception:
        raise CLIError(f"unknown value type {type_name!r}: cannot import it") from None
    if not callable(found):
        raise CLIError(f"value type {type_name!r} is not a type")
    return found


def _convert(value_type: Any, raw: str) -> Any:
    # As in pydocket, a few types read their text specially; every other
    # type is called with the text.
    if value_type is _NONE:
        return None
    if value_type is bool:
        return _bool(raw)
    if value_type is timedelta:
        return parse_duration(raw, "datetime.timedelta value")
    if value_type is datetime or value_type is date:
        return value_type.fromisoformat(raw)
    if value_type is bytes:
        return raw.encode()
    return value_type(raw)


def parse_value(text: str) -> Any:
    """A strike value from ``type:value`` text; text without a known type stays a string."""
    type_name, separator, raw = text.partition(":")
    if not separator:
        return text
    value_type = _value_type(type_name)
    if value_type is None:
        return text  # e.g. "https://example.com": a plain string with a colon in it
    try:
        return _convert(value_type, raw)
    except CLIError:
        raise
    except Exception as error:
        raise CLIError(f"invalid value {text!r}: {one_line(str(error))}") from None


def _rule(function: str, parameter: str, operator: str, value: str | None) -> StrikeRule:
    task = None if function in WILDCARDS else function
    name = None if parameter in WILDCARDS else parameter
    if task is None and name is None:
        raise CLIError("give a function, a parameter or both (they cannot both be '*')")
    parsed: Any = None
    if value is not None:
        if operator == Operator.BETWEEN.value and "," in value:
            lower, _, upper = value.partition(",")
            parsed = (parse_value(lower), parse_value(upper))
        else:
            parsed = parse_value(value)
    try:
        return StrikeRule.build(task, name, operator, parsed)
    except (TypeError, ValueError) as error:
        raise CLIError(str(error)) from None


def describe_rule(rule: StrikeRule) -> str:
    """``'task'``, ``'task' where p == 1`` or ``every task where p == 1``."""
    if rule.parameter is None:
        return f"{rule.function!r}"
    condition = f"{rule.parameter} {rule.operator.value} {rule.value!r}"
    if rule.function is None:
        return f"every task where {condition}"
    return f"{rule.function!r} where {condition}"


FunctionArgument = Annotated[
    str, typer.Argument(help="The task to strike, or * for any task with the parameter.")
]
ParameterArgument = Annotated[
    str, typer.Argument(help="The parameter to compare, or * for every call of the task.")
]
OperatorArgument = Annotated[
    str,
    typer.Argument(help="How to compare: ==, !=, >, >=, <, <= or between."),
]
ValueArgument = Annotated[
    str | None,
    typer.Argument(
        help="The value to compare with: text, or type:value such as int:5, bool:true, "
        "datetime.timedelta:30; for between, two values separated by a comma.",
        show_default=False,
    ),
]


def _apply(
    verb: str,
    docket_name: str,
    url: str,
    function: str,
    parameter: str,
    operator: str,
    value: str | None,
    *,
    restore: bool,
) -> None:
    console = make_console()

    async def main() -> None:
        rule = _rule(function, parameter, operator, value)
        async with open_docket(docket_name, url) as docket:
            console.print(f"{verb} {describe_rule(rule)} in docket {docket.name!r}", markup=False)
            if restore:
                await docket.restore(rule.function, rule.parameter, rule.operator, rule.value)
            else:
                await docket.strike(rule.function, rule.parameter, rule.operator, rule.value)

    run(main, url=url)


def strike(
    function: FunctionArgument = WILDCARD,
    parameter: ParameterArgument = WILDCARD,
    operator: OperatorArgument = "==",
    value: ValueArgument = None,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Strike a task, or calls whose argument matches, until restored.

    Struck work is refused when added and cancelled when a worker meets it.

    \b
    Examples:
      docket strike send_email                        every call of send_email
      docket strike send_email customer_id == int:42  its calls for customer 42
      docket strike '*' customer_id == int:42         any task's calls for 42
      docket strike charge amount between int:1,int:9
    """
    _apply("Striking", docket_name, url, function, parameter, operator, value, restore=False)


def restore(
    function: FunctionArgument = WILDCARD,
    parameter: ParameterArgument = WILDCARD,
    operator: OperatorArgument = "==",
    value: ValueArgument = None,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Lift a strike: give exactly the arguments it was made with."""
    _apply("Restoring", docket_name, url, function, parameter, operator, value, restore=True)
