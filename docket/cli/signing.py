"""``--signing-key``: the docket's signing keys, on every command that opens a docket.

``add_signing_key_option(app)`` gives each command of the app that takes a
``--url`` a ``--signing-key`` option (``DOCKET_SIGNING_KEY``; several keys
separated by commas, the first signs).  The command itself does not see it:
the key is kept for the command's run and ``open_docket`` hands it to the
``Docket`` (see ``signing_key``); it is also the process's
``DOCKET_SIGNING_KEY`` meanwhile, for a ``Docket`` a command builds itself.
No command module needs to know about signing.  The key is never echoed: it has no default shown, and errors
about it name its position, not its value.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Annotated, Any

import typer

from docket.signing import ENV_VAR

__all__ = ["SigningKeyOption", "add_signing_key_option", "signing_key"]

SigningKeyOption = Annotated[
    str | None,
    typer.Option(
        "--signing-key",
        envvar=ENV_VAR,
        metavar="KEY[,KEY...]",
        show_default=False,
        help=(
            "Sign and verify everything stored with this HMAC key (several separated by "
            "commas: the first signs, all verify). Every producer and worker of the "
            "docket needs it. Prefer the environment variable: options show in ps."
        ),
    ),
]

_signing_key: ContextVar[str | None] = ContextVar("docket_cli_signing_key", default=None)

PARAMETER = "signing_key"
MARK = "__docket_signing_key_option__"


def signing_key() -> list[str] | None:
    """The keys the running command was given, for ``Docket(signing_key=...)``.

    None when it was given none (the ``Docket`` then reads
    ``DOCKET_SIGNING_KEY`` itself, which is also the option's variable).
    """
    text = _signing_key.get()
    if text is None or not text.strip():
        return None
    # An empty key is refused by the Docket, naming its position.
    return [key.strip() for key in text.split(",")]


def _with_signing_key(command: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(command, eval_str=True)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = kwargs.pop(PARAMETER, None)
        token = _signing_key.set(given)
        before = os.environ.get(ENV_VAR)
        if given is not None:
            # A Docket the command builds itself (the dashboard's) reads the variable.
            os.environ[ENV_VAR] = given
        try:
            return command(*args, **kwargs)
        finally:
            _signing_key.reset(token)
            if before is None:
                os.environ.pop(ENV_VAR, None)
            else:
                os.environ[ENV_VAR] = before

    parameter = inspect.Parameter(
        PARAMETER, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=SigningKeyOption
    )
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), parameter]
    )
    wrapper.__annotations__ = {**command.__annotations__, PARAMETER: SigningKeyOption}
    setattr(wrapper, MARK, True)
    return wrapper


def _commands(app: typer.Typer) -> Iterator[Any]:
    yield from app.registered_commands
    for group in app.registered_groups:
        if group.typer_instance is not None:
            yield from _commands(group.typer_instance)


def add_signing_key_option(app: typer.Typer) -> None:
    """Give every command of ``app`` (and its sub-apps) that takes ``url`` a ``--signing-key``.

    Call it once, after every command is registered.
    """
    for info in _commands(app):
        callback = info.callback
        if callback is None or getattr(callback, MARK, False):
            continue
        parameters = inspect.signature(callback).parameters
        if "url" in parameters and PARAMETER not in parameters:
            info.callback = _with_signing_key(callback)
