"""The dashboard's actions: cancel, run now, replay and purge a dead letter, strike, restore.

Each is a POST handler: it passes ``docket.dashboard.guard``'s checks, acts
through ``Docket``'s public API, and answers with a 303 redirect back to
the page it came from, carrying a notice saying what happened.  A request
that cannot be carried out gets a plain-text answer with the reason and a
4xx status.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Awaitable, Callable, Hashable
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from docket.dashboard.guard import Refused, check_action
from docket.dashboard.queries import strike_row_id
from docket.dashboard.source import DocketSource, Settings
from docket.docket import Docket
from docket.states import ExecutionState
from docket.strike_rules import Operator
from docket.urls import scrub

__all__ = ["ACTIONS", "handle_action", "parse_value", "read_form"]

logger = logging.getLogger("docket.dashboard")

Form = dict[str, str]
Handler = Callable[[Docket, Form], Awaitable[str]]

MAX_FORM_BYTES = 64 * 1024
"""The largest action form read; the dashboard's own forms are far smaller."""


async def read_form(request: Request) -> Form:
    """The URL-encoded form an action posts (starlette's multipart parser is not needed)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "Actions take a URL-encoded form (the dashboard's own forms).")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, f"The form is larger than {MAX_FORM_BYTES} bytes.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "The form is not valid URL-encoded UTF-8.") from None


def _field(form: Form, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, f"The form needs a {name!r} field.")
    return value.strip()


def _optional(form: Form, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def parse_value(text: str) -> Hashable:
    """A strike's value from the form: a Python literal (``42``, ``1.5``, ``'x'``,
    ``True``, ``None``) when it reads as one, ``true``/``false`` as booleans, else the text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, Hashable) else text


async def _cancel(docket: Docket, form: Form) -> str:
    key = _field(form, "key")
    await docket.cancel(key)
    return f"Cancelled {key}."


async def _run_now(docket: Docket, form: Form) -> str:
    key = _field(form, "key")
    execution = await docket.get_execution(key)
    if execution is None or execution.state not in (
        ExecutionState.SCHEDULED,
        ExecutionState.QUEUED,
    ):
        state = "no record" if execution is None else execution.state.value
        raise Refused(409, f"{key} cannot run now: only scheduled or queued work can ({state}).")
    if execution.function is None:
        raise Refused(
            409,
            f"{key} cannot run now: task {execution.function_name!r} is not registered with "
            "the dashboard's docket, so its arguments cannot be scheduled again. Register it "
            "(docket dashboard --tasks module:attr, or docket.register in the host app).",
        )
    await docket.replace(execution.function_name, when=docket.clock.now(), key=key)(
        *execution.args, **execution.kwargs
    )
    return f"{key} is due now."


async def _replay(docket: Docket, form: Form) -> str:
    letter = _field(form, "letter")
    try:
        execution = await docket.replay_dead_letter(letter)
    except ValueError as error:
        raise Refused(409, str(error)) from None
    return f"Replayed dead letter {letter} as {execution.key}: {execution.disposition.value}."


async def _purge(docket: Docket, form: Form) -> str:
    letter = _field(form, "letter")
    removed = await docket.purge_dead_letters(letter)
    if not removed:
        raise Refused(404, f"No dead letter {letter!r} (already purged or expired).")
    return f"Purged dead letter {letter}."


async def _strike(docket: Docket, form: Form) -> str:
    task = _optional(form, "task")
    parameter = _optional(form, "parameter")
    try:
        operator = Operator(_optional(form, "operator") or "==")
    except ValueError:
        raise Refused(400, f"Unknown operator {form.get('operator')!r}.") from None
    value = parse_value(_optional(form, "value") or "") if parameter else None
    if task is None and parameter is None:
        raise Refused(400, "A strike needs a task, a parameter, or both.")
    try:
        await docket.strike(task, parameter, operator, value)
    except (ValueError, TypeError) as error:
        raise Refused(400, f"Cannot strike: {error}") from None
    what = task or "any task"
    return f"Struck {what}" + (
        f" where {parameter} {operator.value} {value!r}." if parameter else "."
    )


async def _restore(docket: Docket, form: Form) -> str:
    wanted = _field(form, "strike")
    for rule in list(docket.strike_list.rules.rules):
        if strike_row_id(rule) == wanted:
            await docket.restore(rule.function, rule.parameter, rule.operator, rule.value)
            return f"Restored {rule.function or 'any task'}" + (
                f" where {rule.parameter} {rule.operator.value} {rule.value!r}."
                if rule.parameter
                else "."
            )
    raise Refused(404, "No such strike in force (already restored?).")


ACTIONS: dict[str, Handler] = {
    "cancel": _cancel,
    "run-now": _run_now,
    "replay": _replay,
    "purge": _purge,
    "strike": _strike,
    "restore": _restore,
}
"""Every action by the name in its URL, ``/actions/{name}``."""


def _back(request: Request, form: Form, notice: str, settings: Settings) -> str:
    base = request.scope.get("root_path", "")
    key = form.get("key")
    if form.get("back") == "execution" and isinstance(key, str) and key:
        path = f"{base}/executions/{quote(key, safe='')}"
    else:
        path = f"{base}/"
    return f"{path}?{urlencode({'notice': notice, 'signed': settings.sign(notice)})}"


async def handle_action(request: Request, source: DocketSource, settings: Settings) -> Response:
    """Run the action the path names, or say why not."""
    name = request.path_params["action"]
    handler = ACTIONS.get(name)
    if handler is None:
        return PlainTextResponse(f"No such action: {name!r}.", status_code=404)
    try:
        form = await read_form(request)
        await check_action(request, settings, form.get("csrf"))
        notice = await handler(await source.get(), form)
    except Refused as refused:
        return PlainTextResponse(refused.reason, status_code=refused.status)
    except Exception as error:
        # Storage trouble, say: one line for the person, the URL's password scrubbed.
        said = scrub(f"{type(error).__name__}: {error}", source.url)
        logger.warning("The dashboard's %s action failed: %s", name, said)
        return PlainTextResponse(f"The {name} action failed: {said}", status_code=503)
    return RedirectResponse(_back(request, form, notice, settings), status_code=303)
