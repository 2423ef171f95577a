"""Chaos runs: tasks through producer and worker processes while Redis restarts and workers die.

``python -m chaos --tasks 2000`` starts a private ``redis-server`` with an
append-only file (``appendfsync always``), producer processes that schedule
the tasks, and ``docket worker`` processes that run them, then restarts Redis
and SIGKILLs workers at random until every task has run, plus a few poison
tasks that kill the worker running them.  Every run is recorded in a ground
truth of its own (an fsynced append-only file per worker process), and the
verdict compares it, and the final state of every execution, with what
should be: nothing lost, only the poison tasks dead-lettered.

Modules: ``tasks`` (what the workers run), ``producer`` (one producer
process), ``cluster`` (the redis-server and worker processes), ``verdict``
(reading the ground truth and judging), ``__main__`` (the command).
"""
