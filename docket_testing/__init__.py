"""docket_testing: test code that uses docket, with virtual time.

The pytest plugin (active on install) provides the fixtures ``clock`` (a
``VirtualClock``), ``docket`` (a Docket on ``memory://``, or the engine named
by ``--docket-url``, driven by it) and ``worker``.  The helpers run due work
inline (``run_due``), move virtual time (``advance``), keep a history of
the runs they drove (``run_history``), and assert what is scheduled, and for
when, and what ran; ``open_docket`` gives a test (or a Hypothesis
example) a docket of its own; ``follow_virtual_clock`` (and the ``app_clock``
fixture, the ``docket_app_clock`` marker and ini setting) make
``datetime.now()`` and ``time.time()`` follow a virtual clock.
``docket_testing.strategies`` has Hypothesis strategies for schedules and
operation sequences, and ``DocketMachine`` (run by ``machine_test``) is a
Hypothesis state machine over a user's own tasks (both need Hypothesis).

The names below are imported on first use: the plugin loads in every pytest
run of an environment that has docket installed, and a project that never
touches docket should not pay for importing it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docket_testing.app_clock import follow_virtual_clock
    from docket_testing.assertions import (
        assert_no_tasks,
        assert_not_ran,
        assert_not_scheduled,
        assert_ran,
        assert_scheduled,
    )
    from docket_testing.dockets import discard, open_docket
    from docket_testing.helpers import RunawayWork, TaskFailedInTest, advance, run_due
    from docket_testing.history import Run, clear_run_history, run_history
    from docket_testing.machine_calls import Call, calls
    from docket_testing.machines import DocketMachine, machine_test
    from docket_testing.near_miss import NearMissWarning
    from docket_testing.swapping import swap_docket

__all__ = [
    "Call",
    "DocketMachine",
    "NearMissWarning",
    "Run",
    "RunawayWork",
    "TaskFailedInTest",
    "advance",
    "assert_no_tasks",
    "assert_not_ran",
    "assert_not_scheduled",
    "assert_ran",
    "assert_scheduled",
    "calls",
    "clear_run_history",
    "discard",
    "follow_virtual_clock",
    "machine_test",
    "open_docket",
    "run_due",
    "run_history",
    "swap_docket",
]

_HOMES = {
    "RunawayWork": "docket_testing.helpers",
    "TaskFailedInTest": "docket_testing.helpers",
    "advance": "docket_testing.helpers",
    "run_due": "docket_testing.helpers",
    "assert_no_tasks": "docket_testing.assertions",
    "assert_not_scheduled": "docket_testing.assertions",
    "assert_scheduled": "docket_testing.assertions",
    "assert_ran": "docket_testing.assertions",
    "assert_not_ran": "docket_testing.assertions",
    "Run": "docket_testing.history",
    "run_history": "docket_testing.history",
    "clear_run_history": "docket_testing.history",
    "NearMissWarning": "docket_testing.near_miss",
    "discard": "docket_testing.dockets",
    "open_docket": "docket_testing.dockets",
    "follow_virtual_clock": "docket_testing.app_clock",
    "swap_docket": "docket_testing.swapping",
    "Call": "docket_testing.machine_calls",
    "calls": "docket_testing.machine_calls",
    "DocketMachine": "docket_testing.machines",
    "machine_test": "docket_testing.machines",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'docket_testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
