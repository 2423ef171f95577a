"""The values a ``DocketMachine`` step draws, and how a failing run shows them.

``Call`` is one call of a task (``calls(task, ...)`` draws them) and
``Delay`` a timedelta; both print as code (``remind(order=1)``,
``timedelta(days=16)``) in the steps Hypothesis reports for a failing run,
where Hypothesis's own printer would show a dataclass field by field and a
drawn delay as the strategy built it (``16 * resolution``).

Requires Hypothesis (``pip install hypothesis``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

__all__ = ["Call", "Delay", "calls", "shown_as_code"]


@dataclass(frozen=True)
class Call:
    """A call of a task: ``function(*args, **kwargs)``; ``function`` is a callable or a task name."""

    function: Callable[..., Any] | str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The task's name: the function's ``__name__``, or the name given."""
        if isinstance(self.function, str):
            return self.function
        return str(getattr(self.function, "__name__", self.function))

    def __repr__(self) -> str:
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(shown)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis's printer looks for this before anything else.
        printer.text(repr(self))


class Delay(timedelta):
    """A timedelta that shows as ``timedelta(days=16)`` (``-timedelta(seconds=1)`` if negative)."""

    def __repr__(self) -> str:
        plain = timedelta(self.days, self.seconds, self.microseconds)
        if plain < timedelta(0):
            return f"-{(-plain)!r}".replace("datetime.", "")
        return repr(plain).replace("datetime.", "")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def shown_as_code(strategy: st.SearchStrategy[timedelta]) -> st.SearchStrategy[Delay]:
    """``strategy``'s timedeltas as ``Delay``s, equal to them and printed as code."""
    return strategy.map(lambda delta: Delay(delta.days, delta.seconds, delta.microseconds))


def _strategy(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def calls(function: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> st.SearchStrategy[Call]:
    """Calls of ``function`` whose arguments are drawn from ``args`` and ``kwargs``.

    Each argument is a Hypothesis strategy, or a plain value used as it is:
    ``calls(remind, st.sampled_from([1, 2, 3]), channel="email")``.  Combine
    several tasks with ``|``: ``calls(remind, orders) | calls(bill, orders)``.
    """
    if not (callable(function) or (isinstance(function, str) and function)):
        raise TypeError(f"function must be a callable or a task name, got {function!r}")
    names = list(kwargs)
    # Keyword values are drawn as a tuple, not with fixed_dictionaries, which
    # shuffles the keys: a failing step should show them as they were written.
    return st.builds(
        lambda drawn, named: Call(function, tuple(drawn), dict(zip(names, named, strict=True))),
        st.tuples(*(_strategy(a) for a in args)),
        st.tuples(*(_strategy(kwargs[name]) for name in names)),
    )
