"""Commands packed by hiredis are byte for byte what redis-py would send."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from docket.engines.redis.connections import connect
from docket.engines.redis.packing import HIREDIS_PACKING, packing_connection_class

needs_hiredis = pytest.mark.skipif(not HIREDIS_PACKING, reason="hiredis is not installed")

COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "0" * 40, 2, "{d}:stream", "{d}:runs:ké€y", b"\x00\xffbinary", 12, -3),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", "docket"),
    ("SET", "k", 1.5),
    ("SET", "k", 12345678901234567890),
    ("SET", "k", b"x" * 10_000),
    ("PING",),
]


@needs_hiredis
@pytest.mark.parametrize("command", COMMANDS)
def test_hiredis_packing_matches_redis_py(command: tuple[Any, ...]) -> None:
    packing = packing_connection_class(Connection, {})
    assert packing is not Connection
    expected = b"".join(Connection().pack_command(*command))
    assert b"".join(packing().pack_command(*command)) == expected


@needs_hiredis
def test_hiredis_packs_pipelines_the_same() -> None:
    packing = packing_connection_class(Connection, {})
    expected = b"".join(Connection().pack_commands(COMMANDS))
    assert b"".join(packing().pack_commands(COMMANDS)) == expected


@needs_hiredis
@pytest.mark.parametrize("value", [None, True, object()])
def test_what_redis_py_refuses_hiredis_packing_refuses(value: Any) -> None:
    packing = packing_connection_class(Connection, {})
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        packing().pack_command("SET", "k", value)


@needs_hiredis
@pytest.mark.parametrize("base", [Connection, SSLConnection, UnixDomainSocketConnection])
def test_each_connection_kind_keeps_its_own_behaviour(base: type[Connection]) -> None:
    packing = packing_connection_class(base, {})
    assert issubclass(packing, base)
    assert packing is packing_connection_class(base, {})


@pytest.mark.parametrize("kwargs", [{"encoding": "latin-1"}, {"encoding_errors": "replace"}])
def test_other_text_encodings_keep_redis_py_packing(kwargs: dict[str, str]) -> None:
    assert packing_connection_class(Connection, kwargs) is Connection


@needs_hiredis
async def test_engine_connections_pack_with_hiredis() -> None:
    clients = connect("redis://localhost:1/0", "{docket}:stream")
    try:
        for client in (clients.commands, clients.blocking):
            connection_class = client.connection_pool.connection_class
            assert issubclass(connection_class, Connection)
            assert connection_class.__name__ == "HiredisConnection"
    finally:
        await clients.close()
