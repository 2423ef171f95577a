"""``docket strike``, ``docket restore`` and ``docket strikes ls``: stop (and resume) tasks without a deploy.

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

A plain value (no ``type:``) is read as the type of the task parameter it is
compared with when the task is known: docket's built-in tasks and those
named by ``--tasks``, the option ``docket worker`` takes (see
``strike_values``).  For ``*`` (any task) the loaded tasks that have the
parameter must agree on its type.  When the task is not known the value
stays text, and a warning on stderr says so, as pydocket always kept it.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.table import Table
from rich.text import Text

from docket.cli.loading import load_tasks
from docket.cli.options import (
    DEFAULT_DOCKET,
    DEFAULT_URL,
    DocketOption,
    TasksOption,
    UrlOption,
    parse_duration,
)
from docket.cli.strike_values import typed_reader
from docket.cli.support import CLIError, make_console, one_line, open_docket, run
from docket.docket import Docket
from docket.strikelist import Operator, StrikeRule

__all__ = ["active_strikes", "app", "describe_rule", "ls", "parse_value", "restore", "strike"]

app = typer.Typer(help="Look at the strikes in force.", no_args_is_help=True)

TaskFunction = Callable[..., Any]
Reader = Callable[[str], Any]

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


def _is_typed(text: str) -> bool:
    """Whether ``text`` is an explicit ``type:value`` (which is read as it says)."""
    type_name, separator, _ = text.partition(":")
    if not separator:
        return False
    try:
        return _value_type(type_name) is not None
    except CLIError:
        return True  # parse_value reports the unknown type


def _rule(
    function: str,
    parameter: str,
    operator: str,
    value: str | None,
    tasks: Mapping[str, TaskFunction] | None = None,
    warn: Callable[[str], None] | None = None,
) -> StrikeRule:
    """The rule the arguments name; with ``tasks``, plain values take their parameter's type."""
    task = None if function in WILDCARDS else function
    name = None if parameter in WILDCARDS else parameter
    if task is None and name is None:
        raise CLIError("give a function, a parameter or both (they cannot both be '*')")
    if operator not in {o.value for o in Operator}:
        # Before any value is read, so a bad operator is the only thing said.
        raise CLIError(f"operator must be one of {[o.value for o in Operator]}, got {operator!r}")
    parsed: Any = None
    if value is not None:
        texts = [value]
        if operator == Operator.BETWEEN.value and "," in value:
            texts = list(value.partition(",")[::2])
        reader: Reader | None = None
        plain = [text for text in texts if not _is_typed(text)]
        if plain and name is not None and tasks is not None:

            def say(message: str) -> None:
                if warn is not None:
                    warn(f"{message}; the value {', '.join(map(repr, plain))} stays a string")

            reader = typed_reader(task, name, tasks, say)
        values = [
            reader(text) if reader is not None and not _is_typed(text) else parse_value(text)
            for text in texts
        ]
        parsed = tuple(values) if len(values) == 2 else values[0]
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
        help="The value to compare with, read as the task parameter's type when the task "
        "is known (--tasks), else as text; or type:value such as int:5, bool:true, "
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
    tasks: list[str] | None,
    *,
    restore: bool,
) -> None:
    console = make_console()

    def warn(message: str) -> None:
        typer.echo(f"warning: {one_line(message)}", err=True)

    async def main() -> None:
        functions = load_tasks(tasks or [], "--tasks")
        async with open_docket(docket_name, url, tasks=functions) as docket:
            rule = _rule(function, parameter, operator, value, docket.tasks, warn)
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
    tasks: TasksOption = None,
) -> None:
    """Strike a task, or calls whose argument matches, until restored.

    Struck work is refused when added and cancelled when a worker meets it.

    A plain VALUE takes the type of the task's parameter when the task is
    known (docket's built-in tasks, and those --tasks names, as for `docket
    worker`): `order_id == 2002` strikes the int 2002 when order_id is an
    int. An unknown task keeps the value as text, with a warning; type:value
    (int:2002) always says the type itself.

    \b
    Examples:
      docket strike send_email                        every call of send_email
      docket strike send_email customer_id == 42 --tasks app.tasks:tasks
      docket strike send_email customer_id == int:42  its calls for customer 42
      docket strike '*' customer_id == int:42         any task's calls for 42
      docket strike charge amount between int:1,int:9
    """
    _apply("Striking", docket_name, url, function, parameter, operator, value, tasks, restore=False)


def restore(
    function: FunctionArgument = WILDCARD,
    parameter: ParameterArgument = WILDCARD,
    operator: OperatorArgument = "==",
    value: ValueArgument = None,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
    tasks: TasksOption = None,
) -> None:
    """Lift a strike: give exactly the arguments it was made with (and the same --tasks)."""
    _apply("Restoring", docket_name, url, function, parameter, operator, value, tasks, restore=True)


def strikes_table(rules: list[StrikeRule]) -> Table:
    """Task / Parameter / Operator / Value / Type, one row per rule."""
    table = Table()
    for heading in ("Task", "Parameter", "Operator", "Value", "Type"):
        table.add_column(heading, overflow="fold")
    for rule in rules:
        whole = rule.parameter is None
        table.add_row(
            Text(rule.function or WILDCARD),
            Text(rule.parameter or ("(every call)" if whole else WILDCARD)),
            Text("" if whole else rule.operator.value),
            Text("" if whole else repr(rule.value)),
            Text("" if whole else _type_name(rule.value)),
        )
    return table


def _type_name(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(type(v).__name__ for v in value)
    return type(value).__name__


def _order(rule: StrikeRule) -> tuple[str, str, str, str]:
    return (rule.function or "", rule.parameter or "", rule.operator.value, repr(rule.value))


async def active_strikes(docket: Docket) -> list[StrikeRule]:
    """The strikes in force for ``docket`` once its stored rules are read, in a stable order."""
    await docket.wait_for_strikes_loaded()
    return sorted(docket.strike_list.rules.rules, key=_order)


@app.command("ls")
def ls(
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List the strikes in force: task, parameter, operator and value (with its type)."""
    console = make_console()

    async def main() -> None:
        async with open_docket(docket_name, url) as docket:
            rules = await active_strikes(docket)
            if rules:
                console.print(strikes_table(rules))
            count = len(rules)
            console.print(
                Text(f"{count} strike{'' if count == 1 else 's'} in docket {docket.name!r}")
            )

    run(main, url=url)
