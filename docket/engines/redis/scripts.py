"""The Lua scripts of the Redis engine: loading them and calling them by hash.

Each file in ``lua/`` is one atomic transition.  ``lua/common.lua`` holds the
helpers they share and is prepended to every script, so each is one
self-contained chunk.  Scripts are registered once per client (their SHA1 is
computed locally), loaded onto the server when the engine opens, and called
with EVALSHA; redis-py reloads a script transparently if the server answers
NOSCRIPT (after a restart or SCRIPT FLUSH).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from docket.engines.redis.codec import Arg

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["SCRIPT_NAMES", "ScriptCall", "Scripts", "script_source"]

ScriptCall = tuple[str, Sequence[str], Sequence[Arg]]
"""One script call: the script's name, its keys and its arguments."""

SCRIPT_NAMES = (
    "schedule",
    "cancel",
    "claim",
    "renew",
    "settle",
    "release",
    "set_aside",
    "clear",
    "heartbeat",
    "retire",
    "snapshot",
    "probe",
    "strikes",
    "progress",
)


@cache
def script_source(name: str) -> str:
    """The full text of script ``name``: the shared helpers, then its body."""
    if name not in SCRIPT_NAMES:
        raise ValueError(f"no such script {name!r}")
    lua = resources.files(__package__).joinpath("lua")
    common = lua.joinpath("common.lua").read_text(encoding="utf-8")
    body = lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return f"{common}\n{body}"


class Scripts:
    """Every script, registered on one client."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }

    async def load(self) -> None:
        """Load every script onto the server in one round trip."""
        async with self._client.pipeline(transaction=False) as pipe:
            for name in SCRIPT_NAMES:
                pipe.script_load(script_source(name))
            await pipe.execute()

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Call script ``name`` (one EVALSHA) and return its raw reply."""
        return await self._scripts[name](keys=keys, args=args)

    async def run_pipelined(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Call several scripts in one round trip, in order; return each raw reply.

        A script that failed has its exception in its place instead of a
        reply; the others ran regardless.  A script the server had forgotten
        (NOSCRIPT, after a restart) did not run, and is loaded and run again.
        """
        replies = await self._pipelined(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self.load()
            again = await self._pipelined([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipelined(self, calls: Sequence[ScriptCall]) -> list[Any]:
        # EVALSHA by hand: a pipeline given Script objects checks that each
        # exists on the server first, which costs a round trip of its own.
        pipe = self._client.pipeline(transaction=False)
        for name, keys, args in calls:
            pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))
