"""``StrikeList``: the strikes in force for one docket, kept in step with its storage.

A strike stops a task, or the calls whose arguments match, without a
redeploy (see ``docket.strike_rules`` for the rules and their matching).  The
rules live in the docket's storage, so every Docket, Worker and StrikeList
of that name sees them.  Each ``Docket`` keeps one; as in pydocket, a
``StrikeList(url, name)`` can also be used on its own, to read or issue
strikes from a process that runs no docket, and ``StrikeList()`` with no URL
holds rules locally.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from docket.clock import Clock, SystemClock
from docket.engines import open_engine
from docket.engines.base import Engine
from docket.errors import BadSignature
from docket.racing import cancel_and_wait, until_set
from docket.serialization import STRIKE, Codec
from docket.signing import SigningKey
from docket.strike_rules import (
    LiteralOperator,
    Operator,
    Restore,
    RuleSet,
    Strike,
    StrikeInstruction,
    StrikeRule,
    call_arguments,
    rule_from_json,
    rule_id,
    rule_to_json,
)

if TYPE_CHECKING:
    from docket.execution import Execution

__all__ = ["Operator", "Restore", "Strike", "StrikeInstruction", "StrikeList", "StrikeRule"]

logger = logging.getLogger("docket.strikelist")

RETRY_SECONDS = 1.0
"""How long, on the clock, a lost strike subscription waits before it is made again."""

MinimalStrike = tuple[Operator, Hashable]
ParameterStrikes = dict[str, set[MinimalStrike]]
TaskStrikes = dict[str, ParameterStrikes]


class StrikeList:
    """The strikes in force for the docket ``name`` at ``url``.

    Use it as an async context manager: entering it reads every rule in
    storage and follows changes until it exits.  With no ``url`` it holds
    rules locally (``update``).  ``engine`` (ours) shares an already open
    engine instead of opening one from ``url``, as a ``Docket`` does.
    ``signing_key`` and ``codec`` are the docket's (see ``Docket``; a
    ``Docket`` passes its own ``Codec``): with keys, a stored rule that is
    unsigned or wrongly signed is ignored and logged, never decoded.
    """

    def __init__(
        self,
        url: str | None = None,
        name: str = "strikelist",
        enable_internal_instrumentation: bool = False,
        credential_provider: Any | None = None,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        signing_key: SigningKey | Sequence[SigningKey] | None = None,
        codec: Codec | str = "pickle",
    ) -> None:
        self.codec = codec if isinstance(codec, Codec) else Codec(codec, signing_key)
        owns_engine = engine is None and url is not None
        if url is not None and engine is None:
            engine = open_engine(url, name, credential_provider=credential_provider)
        self.url = url
        self.name = name
        self.enable_internal_instrumentation = enable_internal_instrumentation
        self.credential_provider = credential_provider
        self.rules = RuleSet()
        self._engine = engine
        self._owns_engine = owns_engine
        self._clock: Clock = clock or SystemClock()
        self._conditions: list[Callable[[Execution], bool]] = []
        self._follower: asyncio.Task[None] | None = None
        self._loaded: asyncio.Event | None = None
        self._connected = False

    @property
    def prefix(self) -> str:
        """The start of this docket's keys: ``{name}``."""
        return "{" + self.name + "}"

    @property
    def strike_key(self) -> str:
        """Where the rules are kept (a hash of rule id to rule, on Redis)."""
        return f"{self.prefix}:strikes"

    @property
    def task_strikes(self) -> TaskStrikes:
        """Rules naming a task, by task then parameter (an empty dict strikes the whole task)."""
        strikes: TaskStrikes = {}
        for rule in self.rules.rules:
            if rule.function is None:
                continue
            by_parameter = strikes.setdefault(rule.function, {})
            if rule.parameter is not None:
                by_parameter.setdefault(rule.parameter, set()).add((rule.operator, rule.value))
        return strikes

    @property
    def parameter_strikes(self) -> ParameterStrikes:
        """Rules naming only a parameter, by parameter."""
        strikes: ParameterStrikes = {}
        for rule in self.rules.rules:
            if rule.function is None and rule.parameter is not None:
                strikes.setdefault(rule.parameter, set()).add((rule.operator, rule.value))
        return strikes

    async def __aenter__(self) -> Self:
        if self._engine is None:
            return self
        if self._connected:
            raise RuntimeError(f"StrikeList {self.name!r} is already entered; it is not reentrant")
        if self._owns_engine:
            await self._engine.open()
        self._loaded = asyncio.Event()
        self._follower = asyncio.create_task(
            self._follow(self._engine, self._loaded), name=f"docket:{self.name}:strikes"
        )
        await until_set(self._loaded, self._follower)
        if self._follower.done():
            self._follower.result()
        self._connected = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._connected = False
        if self._follower is not None:
            await cancel_and_wait(self._follower)
            self._follower = None
        self._loaded = None
        if self._owns_engine and self._engine is not None:
            await self._engine.close()

    async def _follow(self, engine: Engine, loaded: asyncio.Event) -> None:
        """Keep ``rules`` equal to the rules in storage, for as long as this is entered."""
        from docket.worker.event_log import looks_like_outage, say_duration

        lost_at: float | None = None
        while True:
            try:
                async with engine.watch_strikes() as changes:
                    await self._load(engine)
                    loaded.set()
                    if lost_at is not None:
                        back = self._clock.monotonic() - lost_at
                        logger.info(
                            "Strike list of %r back after %s", self.name, say_duration(back)
                        )
                        lost_at = None
                    async for _ in changes:
                        await self._load(engine)
            except Exception as error:
                # One line per outage, without a traceback; retries are DEBUG.
                outage = looks_like_outage(error)
                logger.log(
                    logging.WARNING if lost_at is None else logging.DEBUG,
                    "Lost the strike list of %r (%s: %s); reconnecting",
                    self.name,
                    type(error).__name__,
                    error,
                    exc_info=lost_at is not None or not outage,
                )
                if lost_at is None:
                    lost_at = self._clock.monotonic()
                loaded.set()
                await self._clock.sleep(RETRY_SECONDS)

    async def _load(self, engine: Engine) -> None:
        rules = []
        for stored_id, data in (await engine.strikes()).items():
            try:
                rule = self._decode(stored_id, data)
            except BadSignature as error:
                logger.error("Ignoring strike %r with a bad signature: %s", stored_id, error)
                continue
            except Exception as error:
                logger.warning("Ignoring strike %r that cannot be decoded: %s", stored_id, error)
                continue
            if isinstance(rule, StrikeRule):
                rules.append(rule)
            else:
                logger.warning(
                    "Ignoring strike %r that is not a rule: %s", stored_id, type(rule).__name__
                )
        self.rules.replace_all(rules)

    def _decode(self, stored_id: str, data: bytes) -> object:
        decoded = self.codec.decode_object(STRIKE, stored_id, data)
        return rule_from_json(decoded) if self.codec.kind == "json" else decoded

    def _encode(self, rule: StrikeRule) -> bytes:
        stored = rule_to_json(rule) if self.codec.kind == "json" else rule
        try:
            return self.codec.encode_object(STRIKE, rule_id(rule), stored)
        except TypeError as error:
            raise TypeError(f"strike value of {rule.describe()}: {error}") from None

    async def wait_for_strikes_loaded(self) -> None:
        """Return once the rules in storage have been read (at once when local-only)."""
        if self._loaded is not None:
            await self._loaded.wait()

    def update(self, instruction: StrikeInstruction) -> None:
        """Apply a Strike or Restore here only, without storing it."""
        if not isinstance(instruction, StrikeInstruction):
            raise TypeError(f"instruction must be a Strike or Restore, got {instruction!r}")
        self.rules.update(instruction)

    async def send_instruction(self, instruction: StrikeInstruction) -> None:
        """Store a Strike or Restore, so every docket of this name applies it, and apply it here.

        Raises RuntimeError when not entered (no storage to send it to).
        """
        if self._engine is None or not self._connected:
            raise RuntimeError(
                f"StrikeList {self.name!r} is not connected: give it a url and enter it "
                "(async with StrikeList(url, name) as strikes: ...)"
            )
        rule = instruction.rule
        # Encoded first: a value this codec cannot store is refused before it applies here.
        stored = None if isinstance(instruction, Restore) else self._encode(rule)
        self.update(instruction)
        await self._engine.update_strikes(rule_id(rule), stored)

    async def strike(
        self,
        function: str | None = None,
        parameter: str | None = None,
        operator: Operator | LiteralOperator = "==",
        value: Hashable | None = None,
    ) -> None:
        """Strike a task, a parameter value of any task, or both (see ``Docket.strike``)."""
        await self.send_instruction(Strike(function, parameter, operator, value))

    async def restore(
        self,
        function: str | None = None,
        parameter: str | None = None,
        operator: Operator | LiteralOperator = "==",
        value: Hashable | None = None,
    ) -> None:
        """Lift exactly the strike made with the same arguments."""
        await self.send_instruction(Restore(function, parameter, operator, value))

    def add_condition(self, condition: Callable[[Execution], bool]) -> None:
        """Also count an execution struck when ``condition(execution)`` is true (until removed)."""
        self._conditions.insert(0, condition)

    def remove_condition(self, condition: Callable[[Execution], bool]) -> None:
        """Stop applying a condition added with ``add_condition``."""
        self._conditions.remove(condition)

    def is_stricken(self, target: Execution | Mapping[str, Any]) -> bool:
        """Whether an execution, or a mapping of argument names to values, is struck.

        A mapping is matched against the rules that name only a parameter;
        an execution against every rule (its task's too) and every added
        condition.
        """
        if isinstance(target, Mapping):
            return self.rules.matches(None, target)
        if any(condition(target) for condition in self._conditions):
            return True
        return self.matches_call(target.function_name, target.function, target.args, target.kwargs)

    def matches_call(
        self,
        function_name: str,
        function: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> bool:
        """Whether a call of ``function_name`` with these arguments is struck by the rules."""
        if not self.rules.rules:
            return False
        return self.rules.matches(function_name, call_arguments(function, args, kwargs))

    def __len__(self) -> int:
        return len(self.rules)
