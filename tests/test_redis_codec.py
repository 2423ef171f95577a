"""Reading records back from their Redis hashes: every field, and every way one can be unreadable."""

from __future__ import annotations

import pytest

from docket.engines.base import ProgressState
from docket.engines.redis.codec import parse_claim, parse_record
from docket.states import ExecutionState
from docket.timeutil import from_epoch_ms


def stored(**changes: bytes | None) -> dict[bytes, bytes]:
    fields = {
        b"key": "ké".encode(),
        b"function": b"send_email",
        b"payload": b"\x80\x05binary",
        b"when": b"1764120000123",
        b"attempt": b"2",
        b"headers": b"{}",
        b"generation": b"42",
        b"state": b"running",
    }
    for name, value in changes.items():
        if value is None:
            fields.pop(name.encode(), None)
        else:
            fields[name.encode()] = value
    return fields


def test_a_record_reads_back_with_its_defaults() -> None:
    record = parse_record(stored())
    assert (record.key, record.function_name, record.payload) == (
        "ké",
        "send_email",
        b"\x80\x05binary",
    )
    assert record.when == from_epoch_ms(1764120000123)
    assert (record.attempt, record.generation) == (2, 42)
    assert record.headers == {} and record.state is ExecutionState.RUNNING
    assert record.worker is record.started_at is record.completed_at is None
    assert record.error is record.result is record.expires_at is None
    assert record.progress == ProgressState()


def test_every_optional_field_reads_back() -> None:
    record = parse_record(
        stored(
            headers=b'{"traceparent":"00-abc-def-01"}',
            state=b"failed",
            worker=b"w-1",
            started_at=b"1764120000200",
            completed_at=b"1764120000300",
            error=b"ValueError: no",
            result=b"\x80\x05result",
            expires_at=b"1764120900300",
            progress_current=b"3",
            progress_total=b"10",
            progress_message="½ done".encode(),
        )
    )
    assert record.headers == {"traceparent": "00-abc-def-01"}
    assert record.state is ExecutionState.FAILED and record.worker == "w-1"
    assert record.started_at == from_epoch_ms(1764120000200)
    assert record.completed_at == from_epoch_ms(1764120000300)
    assert record.expires_at == from_epoch_ms(1764120900300)
    assert (record.error, record.result) == ("ValueError: no", b"\x80\x05result")
    assert record.progress == ProgressState(current=3, total=10, message="½ done")


def test_progress_with_only_a_message_keeps_the_other_defaults() -> None:
    record = parse_record(stored(progress_message=b"starting"))
    assert record.progress == ProgressState(current=0, total=None, message="starting")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"key": None}, "record has no 'key' field"),
        ({"payload": None}, "record has no 'payload' field"),
        ({"headers": None}, "record has no 'headers' field"),
        ({"state": b"sleeping"}, "'sleeping' is not a valid ExecutionState"),
        ({"when": b"soon"}, "invalid literal"),
        ({"headers": b"[1, 2]"}, "headers must be a JSON object of strings"),
        ({"headers": b'{"a": 1}'}, "headers must be a JSON object of strings"),
        ({"headers": b"{"}, "Expecting"),
        ({"function": b"\xff\xfe"}, "can't decode"),
        ({"progress_current": b"lots"}, "invalid literal"),
    ],
)
def test_an_unreadable_record_says_what_is_wrong(
    changes: dict[str, bytes | None], problem: str
) -> None:
    with pytest.raises(ValueError, match="unreadable record") as raised:
        parse_record(stored(**changes))
    assert problem in str(raised.value)


def test_a_fresh_claim_is_the_record_as_read_marked_running_for_its_worker() -> None:
    """A claim of queued work replies the record as read; the claim marked it running."""
    fields = {
        **stored(),
        b"state": b"queued",
        b"progress_current": b"3",
        b"suspected": b"1",
        b"isolated_runs": b"2",
    }
    flat = [part for pair in fields.items() for part in pair]
    claim = parse_claim([b"1-0", b"fresh", *flat], b"worker-1", b"1764120000999")
    assert claim.record == parse_record(
        {**fields, b"state": b"running", b"worker": b"worker-1", b"started_at": b"1764120000999"}
    )
    assert claim.suspect and claim.deliveries == 4
