"""Building and copying instances of frozen dataclasses without their ``__init__``.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__``; for the records and calls made on every add and every
run (an ``ExecutionRecord`` has seventeen fields) that costs more than the
work around it.  For a class with neither slots nor ``__post_init__``, filling
the instance's attribute dict gives an equal instance, as frozen as any other.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["build_frozen", "evolve"]

T = TypeVar("T")


def build_frozen(cls: type[T], defaults: dict[str, Any], **fields: Any) -> T:
    """An instance of the frozen dataclass ``cls`` equal to ``cls(**fields)``.

    ``defaults`` is ``vars()`` of an instance its constructor built; ``fields``
    must name every field without a default, and every field whose default
    factory makes a mutable value, so that no two instances share one.
    ``cls`` must have no slots and no ``__post_init__``.
    """
    instance = object.__new__(cls)
    attributes = instance.__dict__
    attributes.update(defaults)
    attributes.update(fields)
    return instance


def evolve(instance: T, **changes: Any) -> T:
    """A copy of ``instance`` with ``changes``: what ``dataclasses.replace`` gives, as cheaply."""
    copy = object.__new__(type(instance))
    attributes = copy.__dict__
    attributes.update(instance.__dict__)
    attributes.update(changes)
    return copy
