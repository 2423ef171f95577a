"""Every exception docket defines, in one place."""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "DocketError",
    "ExecutionCancelled",
    "ExecutionExpired",
    "ExecutionFailed",
    "InvalidURL",
    "RunsForever",
    "StorageError",
    "StorageRefused",
    "StorageUnavailable",
    "UnknownTaskError",
]


class DocketError(Exception):
    """Base class of docket's own exceptions."""


class ExecutionCancelled(DocketError):
    """Raised by ``Execution.get_result`` for work that was cancelled."""


class ExecutionFailed(DocketError):
    """Raised by ``Execution.get_result`` when a task failed and its own
    exception was not kept (it could not be serialized, or records expire at
    once because ``execution_ttl`` is zero)."""


class ExecutionExpired(DocketError):
    """Raised by ``Execution.get_result`` when the execution's record is gone:
    it ended and ``execution_ttl`` has passed, so its outcome is no longer known."""


class UnknownTaskError(KeyError, DocketError):
    """A task was named that this docket has not registered."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a sentence reads better unquoted.
        return str(self.args[0]) if self.args else ""


class BadSignature(DocketError, ValueError):
    """A stored payload, result, strike or dead letter failed its signature check.

    Raised, before anything is decoded, when a docket with a ``signing_key``
    reads an entry that is unsigned, signed by none of its keys, or signed
    for another place (see ``docket.signing``); also when a docket without
    keys reads a signed entry it cannot verify.  A worker sets such work
    aside as a dead letter ("bad signature"); ``get_result`` raises it.
    """


class InvalidURL(DocketError, ValueError):
    """A docket URL no engine can open, refused before connecting.

    ``url`` is the URL with its passwords hidden, ``reason`` what is wrong
    with it and ``label`` the name it was given as (``url``, ``--url``).
    """

    def __init__(self, url: str, reason: str, *, label: str = "url") -> None:
        super().__init__(f"invalid {label} {url!r}: {reason}")
        self.url = url
        self.reason = reason
        self.label = label


class StorageError(DocketError):
    """The docket's storage failed an operation.

    The message names the URL with its passwords hidden (``url``, or None
    when it is not known); the engine's own exception is the ``__cause__``.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class StorageUnavailable(StorageError):
    """The docket's storage cannot be reached: the connection failed, timed out
    or was refused its credentials."""


class StorageRefused(StorageError):
    """The docket's storage answered a command with an error."""


class RunsForever(DocketError, RuntimeError):
    """A worker skipping idle time on a ``VirtualClock`` went past its ``skip_limit``.

    Raised by ``run_until_finished`` when work keeps coming due after the
    clock has skipped ``skip_limit`` of virtual time (a ``Perpetual`` with no
    end, say), where waiting for the work to finish would never end.  The
    message names the work still scheduled.
    """
