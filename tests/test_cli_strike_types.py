"""``docket strike`` reads a plain value as its task parameter's type; ``docket strikes ls``.

The tasks are ``cli_support/typed_tasks.py``, named with ``--tasks`` as for
``docket worker``.  Commands run in-process on the suite's real Redis (on
fakeredis a Docket that has struck hangs on close, a library issue reported
separately); ``active_strikes``, what ``strikes ls`` shows, runs on memory
and Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from cli_support.typed_tasks import Level, Tier, charge
from typer.testing import CliRunner, Result

from docket import Docket
from docket.cli import app
from docket.cli.strike_values import annotation_of, convert
from docket.cli.strikes import active_strikes
from docket.cli.support import CLIError
from docket.states import Disposition
from docket.strikelist import Operator, StrikeRule
from tests.engine_urls import docket_url  # noqa: F401 - the memory-and-Redis fixture

runner = CliRunner()
TASKS = "cli_support.typed_tasks:tasks"
CUSTOMER = "12345678-1234-5678-1234-567812345678"


def read(parameter: str, text: str) -> Any:
    converted = convert(text, annotation_of(charge, parameter), task="charge", parameter=parameter)
    assert converted.note is None, converted.note
    return converted.value


@pytest.mark.parametrize(
    ("parameter", "text", "value"),
    [
        ("order_id", "2002", 2002),
        ("order_id", "-7", -7),
        ("amount", "1.50", Decimal("1.50")),
        ("rate", "0.25", 0.25),
        ("note", "2002", "2002"),
        ("express", "true", True),
        ("express", "No", False),
        ("customer", CUSTOMER, UUID(CUSTOMER)),
        ("placed", "2025-01-02T03:04:05+00:00", datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("due", "2025-01-02", date(2025, 1, 2)),
        ("grace", "30d", timedelta(days=30)),
        ("tier", "gold", Tier.GOLD),
        ("tier", "SILVER", Tier.SILVER),
        ("level", "2", Level.HIGH),
        ("level", "LOW", Level.LOW),
    ],
)
def test_plain_text_takes_the_parameters_type(parameter: str, text: str, value: Any) -> None:
    converted = read(parameter, text)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    ("parameter", "text", "kind"),
    [
        ("order_id", "x2002", "int"),
        ("order_id", "1.5", "int"),
        ("amount", "lots", "Decimal"),
        ("rate", "fast", "float"),
        ("express", "maybe", "bool"),
        ("customer", "not-a-uuid", "UUID"),
        ("placed", "yesterday", "datetime"),
        ("grace", "forever", "timedelta"),
        ("tier", "bronze", "Tier"),
    ],
)
def test_text_that_does_not_convert_is_an_error_naming_parameter_value_and_type(
    parameter: str, text: str, kind: str
) -> None:
    with pytest.raises(CLIError) as raised:
        read(parameter, text)
    message = str(raised.value)
    assert f"{text!r}" in message
    assert f"parameter {parameter!r}" in message
    assert f"expected {kind}" in message


@pytest.mark.parametrize("parameter", ["anything", "untyped", "either"])
def test_parameters_without_one_type_keep_the_text_with_a_note(parameter: str) -> None:
    converted = convert("5", annotation_of(charge, parameter), task="charge", parameter=parameter)
    assert converted.value == "5"
    assert converted.note is not None and repr(parameter) in converted.note


def test_injected_and_missing_parameters_have_no_annotation_to_use() -> None:
    for parameter in ("docket", "nope"):
        with pytest.raises(KeyError):
            annotation_of(charge, parameter)


# -- the command --------------------------------------------------------------------------------


@pytest.fixture
def target(redis_server_url: str) -> tuple[str, str]:
    return f"strikes-{uuid.uuid4().hex[:10]}", redis_server_url


def invoke(command: str, target: tuple[str, str], *args: str) -> Result:
    name, url = target
    return runner.invoke(app, [command, *args, "--docket", name, "--url", url])


def rules(target: tuple[str, str]) -> list[StrikeRule]:
    async def main() -> list[StrikeRule]:
        async with Docket(*target) as docket:
            return await active_strikes(docket)

    return asyncio.run(main())


def disposition(target: tuple[str, str], order_id: Any) -> Disposition:
    async def main() -> Disposition:
        async with Docket(*target) as docket:
            return (await docket.add(charge)(order_id, Decimal(1))).disposition

    return asyncio.run(main())


def test_a_known_task_strikes_the_int(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "charge", "order_id", "==", "2002", "--tasks", TASKS)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert (
        result.stdout.strip() == f"Striking 'charge' where order_id == 2002 in docket {target[0]!r}"
    )
    assert rules(target) == [StrikeRule("charge", "order_id", Operator.EQUAL, 2002)]
    assert disposition(target, 2002) is Disposition.STRUCK
    assert disposition(target, 2003) is Disposition.SCHEDULED
    restored = invoke("restore", target, "charge", "order_id", "==", "2002", "--tasks", TASKS)
    assert restored.exit_code == 0, restored.output
    assert rules(target) == []


def test_between_reads_both_ends(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "charge", "amount", "between", "1,9.5", "--tasks", TASKS)
    assert result.exit_code == 0, result.output
    assert rules(target)[0].value == (Decimal(1), Decimal("9.5"))


def test_explicit_types_still_say_the_type(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "charge", "order_id", "==", "str:2002", "--tasks", TASKS)
    assert result.exit_code == 0, result.output
    assert rules(target)[0].value == "2002"


def test_a_bad_value_is_one_line_naming_parameter_value_and_type(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "charge", "order_id", "==", "two", "--tasks", TASKS)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: invalid value 'two' for parameter 'order_id' of charge: expected int "
        "(invalid literal for int() with base 10: 'two')"
    )
    assert rules(target) == []


def test_an_unknown_task_warns_that_the_value_stays_text(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "ship", "order_id", "==", "2002")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: task 'ship' is not among the loaded tasks")
    assert "the value '2002' stays a string" in result.stderr
    assert rules(target)[0].value == "2002"


def test_a_missing_parameter_warns(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "refund", "amount", "==", "5", "--tasks", TASKS)
    assert result.exit_code == 0, result.output
    assert "task 'refund' has no parameter 'amount'" in result.stderr
    assert rules(target)[0].value == "5"


def test_any_task_uses_the_type_the_loaded_tasks_agree_on(target: tuple[str, str]) -> None:
    agreed = invoke("strike", target, "*", "order_id", "==", "7", "--tasks", TASKS)
    assert agreed.exit_code == 0 and agreed.stderr == "", agreed.output
    split = invoke(
        "strike", target, "*", "order_id", "==", "8", "--tasks", f"{TASKS[:-5]}disagreeing"
    )
    assert split.exit_code == 0, split.output
    assert "do not agree on its type" in split.stderr
    assert {rule.value for rule in rules(target)} == {7, "8"}


def test_whole_task_strikes_need_no_value_and_warn_nothing(target: tuple[str, str]) -> None:
    result = invoke("strike", target, "ship")
    assert result.exit_code == 0 and result.stderr == "", result.output


def test_strikes_ls_lists_task_parameter_operator_value_and_type(target: tuple[str, str]) -> None:
    empty = invoke("strikes", target, "ls")
    assert empty.exit_code == 0, empty.output
    assert empty.stdout.strip() == f"0 strikes in docket {target[0]!r}"
    for args in (
        ["charge", "order_id", ">=", "2002", "--tasks", TASKS],
        ["charge", "amount", "between", "1,2", "--tasks", TASKS],
        ["ship"],
    ):
        assert invoke("strike", target, *args).exit_code == 0
    listed = invoke("strikes", target, "ls")
    assert listed.exit_code == 0, listed.output
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in listed.stdout.splitlines()
        if line.startswith("│")
    ]
    assert rows == [
        ["charge", "amount", "between", "(Decimal('1'), Decimal('2'))", "Decimal, Decimal"],
        ["charge", "order_id", ">=", "2002", "int"],
        ["ship", "(every call)", "", "", ""],
    ]
    assert listed.stdout.strip().endswith(f"3 strikes in docket {target[0]!r}")


async def test_active_strikes_on_memory_and_redis(docket_url: str) -> None:  # noqa: F811
    url = f"memory://strikes-{uuid.uuid4().hex[:8]}" if docket_url == "memory://" else docket_url
    async with Docket(f"strikes-{uuid.uuid4().hex[:8]}", url) as docket:
        assert await active_strikes(docket) == []
        await docket.strike("charge", "order_id", "==", 2002)
        await docket.strike("ship")
        await docket.strike(None, "tier", "!=", "gold")
        # A second Docket sees what is stored, not what this one remembers.
        async with Docket(docket.name, url) as other:
            assert await active_strikes(other) == [
                StrikeRule(None, "tier", Operator.NOT_EQUAL, "gold"),
                StrikeRule("charge", "order_id", Operator.EQUAL, 2002),
                StrikeRule("ship", None, Operator.EQUAL, None),
            ]
