"""The memory twin's cheap record constructors make exactly what the dataclass would."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from datetime import datetime, timezone

import pytest

from docket.engines.memory.store import evolve, fresh_record
from docket.engines.records import ExecutionRecord, ProgressState
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


def test_fresh_record_equals_the_dataclass_made_the_usual_way() -> None:
    made = fresh_record(**REQUIRED)
    assert made == ExecutionRecord(**REQUIRED)
    assert type(made) is ExecutionRecord
    assert {f.name for f in fields(ExecutionRecord)} == set(vars(made))
    assert made.progress == ProgressState() and made.worker is None and made.isolated_runs == 0


def test_fresh_record_takes_defaulted_fields_too_and_stays_frozen() -> None:
    made = fresh_record(**REQUIRED, worker="w", suspected=True)
    assert made == ExecutionRecord(**REQUIRED, worker="w", suspected=True)
    with pytest.raises(FrozenInstanceError):
        made.worker = "other"  # type: ignore[misc]


def test_evolve_equals_dataclasses_replace() -> None:
    from dataclasses import replace

    made = fresh_record(**REQUIRED)
    assert evolve(made, state=ExecutionState.QUEUED, attempt=2) == replace(
        made, state=ExecutionState.QUEUED, attempt=2
    )
