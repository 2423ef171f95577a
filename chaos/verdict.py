"""Judging a chaos run: the ground truth of runs, the final states, the dead letters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from docket import Docket, ExecutionState

__all__ = ["Verdict", "judge", "runs_in"]


def runs_in(ledger: Path) -> Counter[str]:
    """How many times each key ran, by the worker processes' own append-only files."""
    runs: Counter[str] = Counter()
    for path in ledger.glob("*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line:
                runs[line] += 1
    return runs


@dataclass
class Verdict:
    """What a chaos run did wrong, if anything."""

    tasks: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    innocent_dead_letters: list[str] = field(default_factory=list)
    wrong_state: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, only poison tasks dead-lettered, every execution in its right end."""
        return not (self.lost or self.innocent_dead_letters or self.wrong_state)


async def judge(docket: Docket, tasks: list[str], poisons: list[str], ledger: Path) -> Verdict:
    """Compare the run with what should be: every task COMPLETED, every poison task FAILED
    and dead-lettered, nothing else dead-lettered."""
    runs = runs_in(ledger)
    verdict = Verdict(tasks=len(tasks))
    verdict.lost = [key for key in tasks if runs[key] == 0]
    verdict.duplicated = [key for key in tasks if runs[key] > 1]
    letters = await docket.dead_letters(limit=100_000)
    dead = {letter.key for letter in letters}
    verdict.innocent_dead_letters = sorted(key for key in dead if key in set(tasks))
    for key, expected in [(k, ExecutionState.COMPLETED) for k in tasks] + [
        (k, ExecutionState.FAILED) for k in poisons
    ]:
        execution = await docket.get_execution(key)
        state = "missing" if execution is None else execution.state.value
        if state != expected.value:
            verdict.wrong_state.append((key, state))
    verdict.wrong_state += [(key, "not dead-lettered") for key in poisons if key not in dead]
    return verdict
