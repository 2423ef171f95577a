"""``docket worker``'s plain and rich log lines escape control characters; JSON stays JSON.

Whatever a message quotes (a key, a task's own text) cannot start a new log
line or send an escape code to the terminal; a traceback after it keeps its
lines.
"""

from __future__ import annotations

import json
import logging

import pytest

from docket.cli.logs import LogFormat, LogLevel, configure_logging

HOSTILE = "key a\nFAKE ERROR line\x1b[31m red\x07"
ESCAPED = "key a\\nFAKE ERROR line\\x1b[31m red\\x07"


def _log_through(log_format: LogFormat) -> None:
    restore = configure_logging(LogLevel.INFO, log_format)
    try:
        logger = logging.getLogger("docket.test_logs_format")
        logger.info("quoted %s", HOSTILE)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed %s", HOSTILE)
    finally:
        restore()


@pytest.mark.parametrize("log_format", [LogFormat.PLAIN, LogFormat.RICH])
def test_messages_are_one_line_with_controls_escaped(
    log_format: LogFormat, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at the terminal's width
    _log_through(log_format)
    err = capsys.readouterr().err
    assert f"quoted {ESCAPED}" in err, err
    assert f"failed {ESCAPED}" in err, err
    assert "\x1b" not in err and "\x07" not in err
    assert not any(line.startswith("FAKE ERROR") for line in err.splitlines())
    # The traceback is not a message: its lines stay lines.
    assert "Traceback (most recent call last)" in err and "ValueError: boom" in err


def test_json_lines_carry_the_text_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    _log_through(LogFormat.JSON)
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["message"] for r in records] == [f"quoted {HOSTILE}", f"failed {HOSTILE}"]
