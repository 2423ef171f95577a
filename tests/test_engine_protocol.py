"""Every engine implements every operation the Engine protocol names, itself."""

from __future__ import annotations

import inspect

import pytest

from docket.engines.base import ENGINE_OPERATIONS, Engine
from docket.engines.memory import MemoryEngine
from docket.engines.protocols import OPERATION_GROUPS
from docket.engines.redis import RedisEngine


def test_the_protocol_names_the_core_operations() -> None:
    for name in ("schedule", "cancel", "claim", "renew", "settle", "snapshot", "subscribe"):
        assert name in ENGINE_OPERATIONS


@pytest.mark.parametrize("engine_class", [MemoryEngine, RedisEngine], ids=lambda c: c.__name__)
def test_engine_defines_every_operation(engine_class: type) -> None:
    missing = [name for name in ENGINE_OPERATIONS if name not in engine_class.__dict__]
    assert missing == []


@pytest.mark.parametrize("engine_class", [MemoryEngine, RedisEngine], ids=lambda c: c.__name__)
def test_engine_operations_match_the_protocol_signatures(engine_class: type) -> None:
    for name in ENGINE_OPERATIONS:
        expected = list(inspect.signature(getattr(Engine, name)).parameters)
        actual = list(inspect.signature(getattr(engine_class, name)).parameters)
        assert actual == expected, name
        declared, implemented = getattr(Engine, name), getattr(engine_class, name)
        if "Awaitable" in str(inspect.signature(declared).return_annotation):
            # Declared to return any awaitable (wait_for_work): an async def
            # is one such; a plain def must say it returns one.
            returns = str(inspect.signature(implemented).return_annotation)
            assert inspect.iscoroutinefunction(implemented) or "Awaitable" in returns, name
        else:
            assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(
                declared
            ), name


def test_the_engine_lists_every_operation_of_its_groups_once() -> None:
    declared = {
        name
        for name in dir(Engine)
        if not name.startswith("_") and callable(getattr(Engine, name, None))
    }
    assert sorted(ENGINE_OPERATIONS) == sorted(declared)
    assert len(set(ENGINE_OPERATIONS)) == len(ENGINE_OPERATIONS)
    for group in OPERATION_GROUPS:
        assert group in Engine.__mro__
