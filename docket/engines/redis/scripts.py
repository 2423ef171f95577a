"""The Lua scripts of the Redis engine: loading them and calling them by hash.

Each script in ``lua/`` is one atomic transition, sent as the one
self-contained chunk ``script_text.script_source`` builds: the helpers of
``lua/common.lua`` it uses, the shared parts it is built on, its body.
Scripts are registered once per client (their SHA1 is computed locally),
loaded onto the server when the engine opens, and called with EVALSHA;
redis-py reloads a script transparently if the server answers NOSCRIPT (after
a restart or SCRIPT FLUSH).  ``run_many`` pipelines many calls of one script
and reloads it itself, so the batch stays one round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from docket.engines.redis.codec import Arg
from docket.engines.redis.script_text import SCRIPT_NAMES, script_source

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["Scripts"]


class Scripts:
    """Every script, registered on one client."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        # Typed here once: redis-py leaves execute_command untyped.
        self._execute: Callable[..., Awaitable[Any]] = client.execute_command
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
        """Call script ``name`` (one EVALSHA) and return its raw reply.

        A NOSCRIPT answer (a restart or SCRIPT FLUSH since the engine opened)
        loads the script and sends the call once more, as redis-py's own
        registered scripts do.
        """
        script = self._scripts[name]
        # EVALSHA straight through execute_command: redis-py's script object
        # copies keys and args into new tuples and checks for pipelines on
        # every call, on the path of every single add.
        try:
            return await self._execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._client.script_load(script.script)
            return await self._execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def run_many(
        self, name: str, calls: Sequence[tuple[Sequence[str], Sequence[Arg]]]
    ) -> list[Any]:
        """Call script ``name`` once per ``(keys, args)``, pipelined, not as a transaction.

        One reply per call, in order; a call the server refused has its
        error (an exception) in its place, and the other calls still ran.
        A connection failure raises.
        """
        script = self._scripts[name]
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _ in range(2):
            async with self._client.pipeline(transaction=False) as pipe:
                for index in pending:
                    keys, args = calls[index]
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                answers = await pipe.execute(raise_on_error=False)
            for index, answer in zip(pending, answers, strict=True):
                replies[index] = answer
            # NOSCRIPT (a restart or SCRIPT FLUSH since the engine opened):
            # those calls did not run; load the script and send them again.
            pending = [i for i in pending if isinstance(replies[i], NoScriptError)]
            if not pending:
                break
            await self._client.script_load(script.script)
        return replies
