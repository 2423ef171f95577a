"""docket.frozen's cheap constructors make exactly what the dataclass would."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from datetime import datetime, timezone

import pytest

from docket.engines.records import RECORD_DEFAULTS, ExecutionRecord, ProgressState
from docket.frozen import build_frozen, evolve
from docket.states import ExecutionState

WHEN = datetime(2030, 1, 1, tzinfo=timezone.utc)
REQUIRED = {
    "key": "k",
    "function_name": "task",
    "payload": b"payload",
    "when": WHEN,
    "attempt": 1,
    "headers": {"h": "v"},
    "generation": 7,
    "state": ExecutionState.SCHEDULED,
}


def test_build_frozen_equals_the_dataclass_made_the_usual_way() -> None:
    made = build_frozen(ExecutionRecord, RECORD_DEFAULTS, **REQUIRED)
    assert made == ExecutionRecord(**REQUIRED)
    assert type(made) is ExecutionRecord
    assert {f.name for f in fields(ExecutionRecord)} == set(vars(made))
    assert made.progress == ProgressState() and made.worker is None and made.isolated_runs == 0


def test_build_frozen_takes_defaulted_fields_too_and_stays_frozen() -> None:
    made = build_frozen(ExecutionRecord, RECORD_DEFAULTS, **REQUIRED, worker="w", suspected=True)
    assert made == ExecutionRecord(**REQUIRED, worker="w", suspected=True)
    with pytest.raises(FrozenInstanceError):
        made.worker = "other"  # type: ignore[misc]


def test_evolve_equals_dataclasses_replace() -> None:
    from dataclasses import replace

    made = build_frozen(ExecutionRecord, RECORD_DEFAULTS, **REQUIRED)
    assert evolve(made, state=ExecutionState.QUEUED, attempt=2) == replace(
        made, state=ExecutionState.QUEUED, attempt=2
    )


def test_every_class_built_this_way_keeps_its_promise() -> None:
    from docket.engines.records import TaskMessage
    from docket.execution import TaskCall
    from docket_testing.history import Run

    for cls in (ExecutionRecord, TaskCall, TaskMessage, Run):
        assert not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__"), cls
