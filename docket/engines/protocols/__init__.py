"""The engine seam's operations, in groups; ``base.Engine`` combines them.

* ``queue``: schedule, cancel, clear, claim, wait for work, renew, settle,
  release, set aside;
* ``gates``: sliding windows, concurrency slots, debounces;
* ``workers``: heartbeats and live workers;
* ``events``: a key's events, progress reports, cancellation notices;
* ``strikes``: the strike rules, stored and watched;
* ``reads``: records, counts, snapshots;
* ``dead_letters``: the letters set aside, read and removed;
* ``user_data``: the user's own keys beside the docket.
"""

from __future__ import annotations

from docket.engines.protocols.dead_letters import DeadLetterOperations
from docket.engines.protocols.events import EventOperations
from docket.engines.protocols.gates import DEBOUNCE_MEMORY, GateOperations
from docket.engines.protocols.queue import (
    DEAD_LETTER_LIMIT,
    DEAD_LETTER_RETENTION,
    PROMOTE_LIMIT,
    QueueOperations,
)
from docket.engines.protocols.reads import ReadOperations
from docket.engines.protocols.strikes import StrikeOperations
from docket.engines.protocols.user_data import UserDataOperations
from docket.engines.protocols.workers import WorkerOperations

__all__ = [
    "DEAD_LETTER_LIMIT",
    "DEAD_LETTER_RETENTION",
    "DEBOUNCE_MEMORY",
    "OPERATION_GROUPS",
    "PROMOTE_LIMIT",
    "DeadLetterOperations",
    "EventOperations",
    "GateOperations",
    "QueueOperations",
    "ReadOperations",
    "StrikeOperations",
    "UserDataOperations",
    "WorkerOperations",
]

OPERATION_GROUPS: tuple[type, ...] = (
    QueueOperations,
    GateOperations,
    WorkerOperations,
    EventOperations,
    StrikeOperations,
    ReadOperations,
    DeadLetterOperations,
    UserDataOperations,
)
"""Every group of operations, in the order ``Engine`` lists them."""
