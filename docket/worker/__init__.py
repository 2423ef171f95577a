"""The worker: claims due work, runs it, and writes the outcomes, one step per module.

* ``worker``: ``Worker``, which composes the steps below and owns their lifecycle;
* ``claiming``: the claim loop, taking due work from storage into slots;
* ``slots``: the tasks runs happen in, ``concurrency`` at most, and ``prefetch``
  (deliveries held for a slot);
* ``running``: one delivery run to its outcome (checks, dependencies, body),
  returned as a value, with ``endings`` turning how the body ended into it and
  ``cancelling`` owning what ``Docket.cancel`` may interrupt;
* ``settling``: the one writer of outcomes, in batches (``batching``);
* ``upkeep``: heartbeats, lease renewal, hold expiry, cancellation notices;
* ``seeding``: seeding automatic perpetual tasks;
* ``outcomes``: the values a run hands on; ``checks``: argument checks;
  ``run_context``: a context per run inside a slot's task; ``entry``: ``Worker.run``.

Data flows one way: claiming -> slots -> running -> (outcome) -> settling.
"""

from __future__ import annotations

from docket.worker.checks import default_worker_name
from docket.worker.worker import Worker

__all__ = ["Worker", "default_worker_name"]
