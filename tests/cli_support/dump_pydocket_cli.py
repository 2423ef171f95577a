"""Record pydocket's command line (commands, arguments, options, environment variables).

Run with a Python that has pydocket installed, from outside this repository::

    python tests/cli_support/dump_pydocket_cli.py > tests/cli_support/pydocket-0.27.2-cli.json

``test_cli_compatibility`` checks docket's ``docket`` command against the
result: every command, argument, option spelling and environment variable
pydocket's has must be accepted by ours.
"""

from __future__ import annotations

import enum
import json
import socket
import sys
from datetime import timedelta
from typing import Any

import typer


def _default(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(socket.gethostname() + "#"):
        return "{hostname}#{pid}"  # the worker name, evaluated when pydocket is imported
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, (list, tuple)):
        return [_default(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _param(param: Any) -> dict[str, Any]:
    envvar = param.envvar
    record: dict[str, Any] = {
        "name": param.name,
        "kind": param.param_type_name,
        "opts": list(param.opts),
        "secondary_opts": list(param.secondary_opts),
        "envvars": [envvar] if isinstance(envvar, str) else list(envvar or []),
        "required": param.required,
        "multiple": param.multiple,
        "default": _default(param.default),
    }
    annotation = param.type_descriptor.annotation
    record["type"] = getattr(annotation, "__name__", repr(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        record["choices"] = [str(member.value) for member in annotation]
    if param.param_type_name == "option":
        record["is_flag"] = param.is_flag
    return record


def _walk(command: Any, path: list[str], into: dict[str, Any]) -> None:
    # Duck-typed: typer 0.29 vendors click, older typers use click itself.
    into[" ".join(path)] = [_param(p) for p in command.params]
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            _walk(sub, [*path, name], into)


def main() -> None:
    from docket import __version__
    from docket.cli import app

    commands: dict[str, Any] = {}
    _walk(typer.main.get_command(app), [], commands)
    json.dump({"version": __version__, "commands": commands}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
