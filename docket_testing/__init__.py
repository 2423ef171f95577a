"""docket_testing: test code that uses docket, with virtual time.

The pytest plugin (active on install) provides the fixtures ``clock`` (a
``VirtualClock``), ``docket`` (a Docket on ``memory://`` driven by it) and
``worker``.  The helpers run due work inline (``run_due``), move virtual time
(``advance``) and assert what is scheduled, and for when.
"""

from __future__ import annotations

from docket_testing.assertions import assert_no_tasks, assert_not_scheduled, assert_scheduled
from docket_testing.helpers import TaskFailedInTest, advance, run_due

__all__ = [
    "TaskFailedInTest",
    "advance",
    "assert_no_tasks",
    "assert_not_scheduled",
    "assert_scheduled",
    "run_due",
]
