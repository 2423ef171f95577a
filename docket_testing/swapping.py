"""Putting a test's docket in place of the one an application made for itself.

An application often owns its ``Docket``: a module-level one
(``docket = Docket("orders", url=...)`` in ``myapp/tasks.py``) or one kept on
an object (a FastAPI ``app.state``, a service).  ``swap_docket`` puts the
test's docket (the ``docket`` fixture, driven by the virtual clock) on that
attribute for the length of a ``with`` block and puts the application's back
afterwards, so the application's own code schedules onto the test docket and
``run_due``/``advance`` run it.  The test docket also learns every task the
application's docket registered, so work added by name and ``Cron`` or
automatic ``Perpetual`` tasks run as they would in production.

A FastAPI dependency that hands out the docket is better replaced with
FastAPI's own ``app.dependency_overrides``; see docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docket import Docket

__all__ = ["swap_docket"]


@contextmanager
def swap_docket(target: object, docket: Docket, attribute: str = "docket") -> Iterator[Docket]:
    """Set ``target.<attribute>`` to ``docket`` inside the block; restore it on the way out.

    ``target`` is whatever holds the application's docket: a module
    (``myapp.tasks``), ``app.state``, any object.  Its ``attribute`` must
    already hold a ``Docket``; anything else is refused (TypeError, or
    AttributeError when there is no such attribute) before it is touched,
    so a misspelt name cannot pass silently.  Every task registered with the
    application's docket is registered with ``docket`` under the same names,
    except names ``docket`` already has (a stand-in the test registered).
    The block gets ``docket``; the original is back even if the block raises.

    Code that copied the docket elsewhere (``from myapp.tasks import
    docket`` in another module) keeps the copy: swap it there too, or refer
    to it through its module (``tasks.docket``).
    """
    from docket import Docket

    if not isinstance(attribute, str) or not attribute.isidentifier():
        raise ValueError(f"attribute must be an attribute name, got {attribute!r}")
    if not isinstance(docket, Docket):
        raise TypeError(f"docket must be a docket.Docket, got {docket!r}")
    if not hasattr(target, attribute):
        raise AttributeError(
            f"target {target!r} has no attribute {attribute!r} to swap a docket into"
        )
    original = getattr(target, attribute)
    if not isinstance(original, Docket):
        raise TypeError(
            f"target {target!r} attribute {attribute!r} must hold a docket.Docket "
            f"to be swapped, got {original!r}"
        )
    for name, function in original.tasks.items():
        # A name the test docket knows keeps its function: a test may have
        # registered a stand-in on purpose (and the built-ins are the same).
        if name not in docket.tasks:
            docket.register(function, names=[name])
    setattr(target, attribute, docket)
    try:
        yield docket
    finally:
        setattr(target, attribute, original)
