"""The text of each Lua script of the Redis engine: the helpers it uses, its parts, its body.

A script in ``lua/`` is built from ``lua/common.lua`` (helpers every script
may use), the shared parts it names (``claiming.lua``, ``settling.lua``,
``scheduling.lua``: files of functions, not scripts) and its own body, as one
self-contained chunk.  Redis runs the whole chunk on every call, so every
``local function`` in it is built again on every call, used or not.  Only the
helpers of common.lua the script's parts and body name (and the helpers those
name, and so on) are kept; the rest are left out, which spares a short script
such as ``schedule.lua`` a tenth of its instructions.

A helper is one top-level ``local`` definition of common.lua, with the
comment lines directly above it.  A name counts as used wherever it appears
as a whole word, comments included: keeping a helper no code calls costs a
little time, leaving out one it does call would fail at run time.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["SCRIPT_NAMES", "SCRIPT_PARTS", "common_helpers", "script_source"]

# Every script in lua/ (the other files there are parts, not scripts).
SCRIPT_NAMES = (
    "schedule",
    "schedule_many",
    "cancel",
    "claim",
    "renew",
    "settle",
    "settle_and_claim",
    "release",
    "set_aside",
    "clear",
    "heartbeat",
    "retire",
    "snapshot",
    "probe",
    "strikes",
    "progress",
    "isolated_run",
    "admit",
    "debounce",
    "acquire_slot",
    "release_slot",
)

# The parts (files of functions, not scripts) each script is built on.
SCRIPT_PARTS: dict[str, tuple[str, ...]] = {
    "schedule_many": ("scheduling",),
    "claim": ("claiming",),
    "settle": ("settling",),
    "settle_and_claim": ("settling", "claiming"),
}

_DEFINITION = re.compile(r"local function (\w+)|local (\w+)\s*=")


def _lua(file: str) -> str:
    lua = resources.files(__package__).joinpath("lua")
    return lua.joinpath(f"{file}.lua").read_text(encoding="utf-8")


@cache
def common_helpers() -> tuple[str, tuple[tuple[str, str], ...]]:
    """common.lua as its header and its helpers, in order, each as ``(name, text)``."""
    lines = _lua("common").splitlines(keepends=True)
    starts: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        match = _DEFINITION.match(line)
        if match is None:
            continue
        start = index
        while start > 0 and lines[start - 1].startswith("--"):
            start -= 1
        starts.append((start, match.group(1) or match.group(2)))
    if not starts:
        return "".join(lines), ()
    header = "".join(lines[: starts[0][0]])
    ends = [start for start, _ in starts[1:]] + [len(lines)]
    helpers = tuple(
        (name, "".join(lines[start:end])) for (start, name), end in zip(starts, ends, strict=True)
    )
    return header, helpers


def _used(text: str, names: set[str]) -> set[str]:
    return {name for name in names if re.search(rf"\b{re.escape(name)}\b", text)}


@cache
def script_source(name: str) -> str:
    """The full text of script ``name``: the helpers it uses, its parts, then its body.

    ValueError for a name with no script in ``lua/``.
    """
    if name not in SCRIPT_NAMES:
        raise ValueError(f"no such script {name!r}")
    own = "\n".join(_lua(file) for file in (*SCRIPT_PARTS.get(name, ()), name))
    header, helpers = common_helpers()
    by_name = dict(helpers)
    kept: set[str] = set()
    frontier = _used(own, set(by_name))
    while frontier:
        kept |= frontier
        frontier = _used("".join(by_name[n] for n in frontier), set(by_name)) - kept
    chosen = "".join(text for helper, text in helpers if helper in kept)
    return "\n".join((header + chosen, own))
