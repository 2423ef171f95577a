"""Logging for ``docket worker``: one handler on the root logger, in rich, plain or JSON form.

Logs go to stderr.  ``rich`` is the default on a terminal and ``plain``
otherwise; ``json`` writes one object per line through python-json-logger,
with any ``extra`` fields a record carries (such as ``docket.key``).

In ``plain`` and ``rich`` form a record's message is written with control
characters escaped (``docket.printable``): whatever a message quotes (a key, a
task's own log text) it stays one line and cannot send escape codes to a
terminal.  A traceback after it keeps its lines.  JSON escapes them itself.
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Callable

from docket.printable import printable

__all__ = ["LogFormat", "LogLevel", "PrintableFormatter", "configure_logging"]

PLAIN_FORMAT = "[%(asctime)s] %(levelname)s - %(name)s - %(message)s"
PLAIN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class LogLevel(str, enum.Enum):
    """The lowest level of log line written."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class LogFormat(str, enum.Enum):
    """How log lines are written."""

    RICH = "rich"
    PLAIN = "plain"
    JSON = "json"


def default_format() -> LogFormat:
    """``rich`` when stderr is a terminal, else ``plain``."""
    isatty = getattr(sys.stderr, "isatty", None)
    return LogFormat.RICH if isatty is not None and isatty() else LogFormat.PLAIN


class PrintableFormatter(logging.Formatter):
    """A ``logging.Formatter`` that writes each message with control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = printable(record.message)
        return super().formatMessage(record)


def _rich_handler() -> logging.Handler:
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
    # The message escaped; a traceback the formatter adds after it keeps its lines.
    handler.setFormatter(PrintableFormatter("%(message)s"))
    return handler


def _handler(log_format: LogFormat) -> logging.Handler:
    if log_format is LogFormat.RICH:
        return _rich_handler()
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.JSON:
        try:
            from pythonjsonlogger.json import JsonFormatter
        except ImportError:  # python-json-logger < 3
            from pythonjsonlogger.jsonlogger import (  # type: ignore[attr-defined,no-redef,unused-ignore]
                JsonFormatter,
            )
        handler.setFormatter(
            JsonFormatter("{name}{asctime}{levelname}{message}{exc_info}", style="{")
        )
    else:
        handler.setFormatter(PrintableFormatter(PLAIN_FORMAT, PLAIN_DATE_FORMAT))
    return handler


def configure_logging(level: LogLevel, log_format: LogFormat | None) -> Callable[[], None]:
    """Send log lines at ``level`` and above to stderr in ``log_format``.

    Returns a function that puts the root logger back as it was, so running
    a command in-process (in tests) leaves no handler behind.
    """
    root = logging.getLogger()
    handler = _handler(log_format or default_format())
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level.value)

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()

    return restore
