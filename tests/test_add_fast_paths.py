"""The shortcuts on the path of every add give exactly what the long way gives.

``fresh_key`` is ``str(uuid.uuid4())`` without the UUID object; a call of
plain arguments is pickled by ``pickle`` itself, byte for byte as cloudpickle
would; a ``ScheduleResult.stored`` builds, when read, the record its constructor would; a call
shape that fitted a task once is not bound again, and one that does not fit
is still refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
import pytest

from docket.engines.records import ExecutionRecord, TaskMessage
from docket.engines.schedule_result import ScheduleResult
from docket.scheduling import check_arguments, fresh_key
from docket.serialization import decode_call, encode_call
from docket.states import Disposition, ExecutionState


def test_fresh_keys_are_version_4_uuids_as_text() -> None:
    keys = {fresh_key() for _ in range(2000)}
    assert len(keys) == 2000
    for key in keys:
        parsed = uuid.UUID(key)
        assert str(parsed) == key
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


PLAIN_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((1, "two", 3.0, None, True, False, b"six"), {"seven": 7, "eight": "8"}),
    ((10**40, -(10**40), float("nan"), float("-inf"), "\ud800é"), {"x": b"\x00" * 3}),
    (("a" * 200_000, "a" * 200_000), {"big": b"b" * 70_000}),
]


@pytest.mark.parametrize("args, kwargs", PLAIN_CALLS)
def test_plain_arguments_pickle_exactly_as_cloudpickle_would(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    payload = encode_call("task", args, kwargs)
    assert payload == cloudpickle.dumps((args, kwargs))
    decoded_args, decoded_kwargs = decode_call(payload)
    assert repr(decoded_args) == repr(args) and decoded_kwargs == kwargs


class Number(int):
    pass


def local_function() -> None:
    pass


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((Number(3),), {}),
        (([1, 2],), {}),
        ((), {"when": datetime(2024, 1, 1, tzinfo=timezone.utc)}),
        ((lambda: 1,), {}),
    ],
)
def test_other_arguments_still_go_through_cloudpickle(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert encode_call("task", args, kwargs) == cloudpickle.dumps((args, kwargs))


def test_an_argument_that_cannot_be_pickled_is_still_named() -> None:
    import threading

    with pytest.raises(TypeError, match="argument 'lock' of task 'task'"):
        encode_call("task", (), {"lock": threading.Lock()})


def test_a_stored_schedule_result_builds_the_constructors_record() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    headers = {"traceparent": "x"}
    message = TaskMessage("k", "f", b"p", when, attempt=2, headers=headers)
    result = ScheduleResult.stored(message, when, 7, ExecutionState.QUEUED)
    expected = ExecutionRecord("k", "f", b"p", when, 2, headers, 7, ExecutionState.QUEUED)
    assert (result.disposition, result.generation, result.state) == (
        Disposition.SCHEDULED,
        7,
        ExecutionState.QUEUED,
    )
    built = result.record
    assert type(built) is ExecutionRecord
    assert built == expected
    assert vars(built) == vars(expected)
    assert result.record is built  # built once
    assert built.headers is not headers  # the record does not share the message's mapping
    assert result == ScheduleResult(Disposition.SCHEDULED, expected)
    assert result != ScheduleResult(Disposition.ALREADY_SCHEDULED, expected)
    assert repr(result) == repr(ScheduleResult(Disposition.SCHEDULED, expected))
    with pytest.raises(AttributeError):
        built.key = "other"  # type: ignore[misc]


def task(a: int, b: str = "b", *, c: float) -> None:
    pass


def test_a_shape_that_fitted_once_still_refuses_other_shapes() -> None:
    check_arguments("task", task, (1,), {"c": 1.0})
    check_arguments("task", task, (1,), {"c": 1.0})  # remembered
    with pytest.raises(TypeError, match="missing required argument"):
        check_arguments("task", task, (1,), {})
    with pytest.raises(TypeError, match="arguments do not fit task 'task'"):
        check_arguments("task", task, (1, "b", 3), {"c": 1.0})
    with pytest.raises(TypeError, match="arguments do not fit task 'task'"):
        check_arguments("task", task, (1,), {"c": 1.0, "d": 2})


class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self, a: int) -> None:
        pass


def test_unhashable_tasks_are_checked_every_time() -> None:
    function = Unhashable()
    check_arguments("job", function, (1,), {})
    check_arguments("job", function, (1,), {})
    with pytest.raises(TypeError, match="arguments do not fit task 'job'"):
        check_arguments("job", function, (), {"b": 2})


def test_build_frozen_builds_what_the_constructors_build() -> None:
    from docket.engines.records import TaskMessage
    from docket.execution import TaskCall
    from docket.frozen import build_frozen
    from docket.timeutil import EPOCH

    call_defaults = dict(vars(TaskCall(task, (), {}, "", EPOCH)))
    message_defaults = dict(vars(TaskMessage("", "", b"", EPOCH)))

    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    call_fields: dict[str, Any] = dict(
        function=task, args=(1,), kwargs={"c": 2.0}, key="k", when=when, function_name="task"
    )
    call = build_frozen(TaskCall, call_defaults, **call_fields)
    assert type(call) is TaskCall and vars(call) == vars(TaskCall(**call_fields))
    message_fields: dict[str, Any] = dict(
        key="k", function_name="task", payload=b"p", when=when, headers={}
    )
    message = build_frozen(TaskMessage, message_defaults, **message_fields)
    assert vars(message) == vars(TaskMessage(**message_fields))
    assert message.headers is message_fields["headers"]
    for cls in (TaskCall, TaskMessage, ExecutionRecord):
        assert not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")


@pytest.mark.parametrize("micros", [0, 1, 999, 1000, 123456, 999999])
def test_whole_milliseconds_by_subtraction_match_truncation(micros: int) -> None:
    from datetime import timedelta

    from docket.scheduling import _whole_ms
    from docket.timeutil import truncate_to_ms

    base = datetime(2024, 5, 6, 7, 8, 9, micros, tzinfo=timezone.utc)
    other_zone = base.astimezone(timezone(timedelta(hours=5)))
    for when in (base, other_zone, base.replace(fold=1)):
        truncated = _whole_ms(when)
        assert truncated == truncate_to_ms(when)
        assert truncated.tzinfo is when.tzinfo and truncated.fold == truncate_to_ms(when).fold
