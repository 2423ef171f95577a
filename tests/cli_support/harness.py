"""Running ``python -m docket`` as a real process in the CLI tests.

``docket_cli`` runs a command to completion; ``CLIProcess`` starts one in
the background (a worker, a watch) and reads its output line by line from a
thread, so a test can wait for a line with a bound instead of sleeping.
``poll`` waits, with a bound, for a condition to become true.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

TESTS = Path(__file__).resolve().parent.parent
SUPPORT = TESTS / "cli_support"
ROOT = TESTS.parent

TIMEOUT = 20.0
"""Upper bound for anything a test waits for; never how long a test takes."""


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a CLI process: tests/ importable, no DOCKET_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("COLUMNS", None)
    env.update(extra or {})
    return env


def docket_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket", *args]


def docket_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m docket ARGS`` to completion and capture its output."""
    return subprocess.run(
        docket_command(*args),
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def poll(
    check: Callable[[], T | None],
    what: str,
    timeout: float = TIMEOUT,
    interval: float = 0.02,
) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class CLIProcess:
    """A ``docket`` process running in the background, its stdout and stderr collected."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            list(command),
            env=cli_env(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, "out", self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, "err", self.stderr)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _read(self, stream: IO[str] | None, name: str, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line)
            self.lines.put((name, line))

    def wait_for_line(self, needle: str, timeout: float = TIMEOUT, stream: str = "out") -> str:
        """The first line on ``stream`` from now on that contains ``needle``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no line containing {needle!r} on std{stream}; "
                    f"stdout={self.output!r} stderr={self.errors!r}"
                )
            try:
                name, line = self.lines.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    for reader in self._readers:
                        reader.join(timeout=1)
                    if self.lines.empty():
                        raise AssertionError(
                            f"process exited ({self.process.returncode}) before printing "
                            f"{needle!r}; stdout={self.output!r} stderr={self.errors!r}"
                        ) from None
                continue
            if name == stream and needle in line:
                return line

    def send(self, signum: signal.Signals = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit (bounded) and for its output to be read."""
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    @property
    def output(self) -> str:
        return "".join(self.stdout)

    @property
    def errors(self) -> str:
        return "".join(self.stderr)

    def stop(self) -> None:
        """Make sure the process is gone (cleanup after a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
