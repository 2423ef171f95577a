"""Text from storage made safe to print: control characters shown escaped.

Task keys, task names and arguments come from whoever wrote to the docket.
Printed as they are, a newline in a key forges a second log line and an ANSI
escape repaints the operator's terminal.  ``printable`` is the one function
every log line and CLI output about such values goes through: it shows C0
controls (newline, carriage return, tab, escape...), DEL, C1 controls and the
Unicode line and paragraph separators as Python-style escapes (``\\n``,
``\\x1b``, ``\\u2028``), and leaves everything else, including backslashes and
non-ASCII letters, as it is.
"""

from __future__ import annotations

__all__ = ["printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(code: int) -> str:
    character = chr(code)
    if character in _NAMED:
        return _NAMED[character]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_TABLE = {code: _escape(code) for code in _CONTROLS}


def printable(text: str) -> str:
    """``text`` with every control character escaped, so that it prints as one inert line."""
    if text.isprintable():
        # The common case costs one scan: isprintable is False for every
        # character the table escapes (and for a few harmless ones, which
        # translate then leaves alone).
        return text
    return text.translate(_TABLE)
