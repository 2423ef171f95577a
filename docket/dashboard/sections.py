"""The dashboard's page bodies: the overview's sections and one execution's page.

Each function takes the view-model (``docket.dashboard.queries``) and
returns HTML built only from ``docket.dashboard.html``'s escaping helpers.
The bodies are what the live region shows, on first load and on every
server-sent refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from docket.dashboard.html import action_form, execution_link, moment, text
from docket.dashboard.queries import ExecutionView, Overview
from docket.dashboard.source import Settings
from docket.engines.base import DeadLetter
from docket.execution import Execution
from docket.states import ExecutionState

__all__ = ["FUTURE_SHOWN", "execution_body", "overview_body", "strike_form"]

FUTURE_SHOWN = 200
"""How many future executions the overview lists (the count says how many there are)."""


def _table(title: str, headers: Sequence[str], rows: Sequence[str], empty: str, anchor: str) -> str:
    heading = f'<h2 id="{anchor}">{text(title)} <span class="muted">({len(rows)})</span></h2>'
    if not rows:
        return f'{heading}<p class="empty">{text(empty)}</p>'
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    return f'{heading}<table class="{anchor}"><thead><tr>{head}</tr></thead><tbody>' + (
        "".join(rows) + "</tbody></table>"
    )


def _row(*cells: str, key: str | None = None) -> str:
    data = f' data-key="{text(key)}"' if key is not None else ""
    return f"<tr{data}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _state(state: object) -> str:
    return f'<span class="state state-{text(state)}">{text(state)}</span>'


def _rate(value: float) -> str:
    return "0" if value == 0 else f"{value:.2f}"


def _progress(execution: Execution) -> str:
    progress = execution.progress
    if progress.current is None:
        return '<span class="muted">—</span>'
    message = f" {text(progress.message)}" if progress.message else ""
    return (
        f'<progress value="{progress.current}" max="{max(progress.total, 1)}"></progress> '
        f"{progress.current}/{progress.total}{message}"
    )


def _letter_actions(base: str, letter: DeadLetter, settings: Settings, back: str) -> str:
    fields = {"letter": letter.id, "back": back}
    replay = (
        action_form(base, "replay", fields, "Replay", settings)
        if letter.payload is not None and letter.function_name
        else ""
    )
    purge = action_form(
        base, "purge", fields, "Purge", settings, confirm="Remove this dead letter for good?"
    )
    return replay + purge


def _letter_rows(
    base: str, letters: Sequence[DeadLetter], now: datetime, settings: Settings, back: str
) -> list[str]:
    return [
        _row(
            f'<span class="mono">{text(letter.id)}</span>',
            text(letter.function_name or "—"),
            execution_link(base, letter.key) if letter.key else "—",
            f'<pre class="error">{text(letter.reason)}</pre>',
            moment(letter.set_aside_at, now),
            text(letter.worker or "—"),
            _letter_actions(base, letter, settings, back),
        )
        for letter in letters
    ]


LETTER_HEADERS = ("Letter", "Task", "Key", "Reason", "Set aside", "Worker", "")


def overview_body(view: Overview, base: str, settings: Settings) -> str:
    """The main page: counts, workers, tasks, running, future, failures, letters, strikes."""
    now = view.taken
    cards = "".join(
        f'<div class="card" data-count="{text(name)}"><b>{count}</b><span>{text(name)}</span></div>'
        for name, count in view.counts.items()
    )
    workers = [
        _row(
            text(w.name),
            moment(w.last_seen, now),
            '<span class="late">late</span>' if w.late else "alive",
            str(w.running),
            text(", ".join(w.tasks)),
        )
        for w in view.workers
    ]
    tasks = [
        _row(
            text(t.name),
            *(f"{n}" for n in (t.scheduled, t.queued, t.running)),
            *(
                _rate(r)
                for r in (t.completed_per_minute, t.failed_per_minute, t.cancelled_per_minute)
            ),
        )
        for t in view.tasks
    ]
    cancel = "Cancel this work?"
    running = [
        _row(
            execution_link(base, r.key),
            f"<code>{text(r.call_repr())}</code>",
            text(r.worker),
            moment(r.started, now),
            _progress(r),
            action_form(
                base, "cancel", {"key": r.key}, "Cancel", settings, confirm=cancel, danger=True
            ),
            key=r.key,
        )
        for r in view.running
    ]
    future = [
        _row(
            execution_link(base, e.key),
            f"<code>{text(e.call_repr())}</code>",
            _state(e.state),
            moment(e.when, now),
            str(e.attempt),
            action_form(base, "run-now", {"key": e.key}, "Run now", settings)
            + action_form(
                base, "cancel", {"key": e.key}, "Cancel", settings, confirm=cancel, danger=True
            ),
            key=e.key,
        )
        for e in view.future[:FUTURE_SHOWN]
    ]
    more = len(view.future) - len(future)
    retrying = [
        _row(
            execution_link(base, e.key),
            text(e.function_name),
            str(e.attempt),
            moment(e.when, now),
            f'<pre class="error">{text(e.error or "")}</pre>',
            key=e.key,
        )
        for e in view.retrying
    ]
    failures = [
        _row(
            execution_link(base, f.key),
            text(f.function_name),
            str(f.attempt),
            moment(f.at, now),
            f'<pre class="error">{text(f.error or "")}</pre>',
            key=f.key,
        )
        for f in view.failures
    ]
    strikes = [
        _row(
            text(s.rule.function or "any task"),
            text(s.rule.parameter or "—"),
            text(s.rule.operator.value if s.rule.parameter else "—"),
            f"<code>{text(repr(s.rule.value))}</code>" if s.rule.parameter else "—",
            action_form(base, "restore", {"strike": s.id}, "Restore", settings),
        )
        for s in view.strikes
    ]
    return "".join(
        [
            f"<h1>Docket <code>{text(view.name)}</code></h1>",
            f'<div class="cards">{cards}</div>',
            _table(
                "Workers",
                ("Name", "Last seen", "Liveness", "Running", "Tasks"),
                workers,
                "No live workers.",
                "workers",
            ),
            _table(
                "Tasks",
                (
                    "Task",
                    "Scheduled",
                    "Queued",
                    "Running",
                    "Completed/min",
                    "Failed/min",
                    "Cancelled/min",
                ),
                tasks,
                "No work seen yet.",
                "tasks",
            ),
            _table(
                "Running",
                ("Key", "Call", "Worker", "Started", "Progress", ""),
                running,
                "Nothing is running.",
                "running",
            ),
            _table(
                "Future",
                ("Key", "Call", "State", "Due", "Attempt", ""),
                future,
                "Nothing is scheduled or queued.",
                "future",
            ),
            f'<p class="muted">and {more} more</p>' if more > 0 else "",
            _table(
                "Retrying",
                ("Key", "Task", "Attempt", "Due", "Last error"),
                retrying,
                "Nothing is waiting to be retried.",
                "retrying",
            ),
            _table(
                "Recent failures",
                ("Key", "Task", "Attempt", "Ended", "Error"),
                failures,
                "No failures seen.",
                "failures",
            ),
            f'<p class="muted">Failures and rates are what this dashboard saw end since '
            f"{moment(view.since, now)}.</p>",
            _table(
                "Dead letters",
                LETTER_HEADERS,
                _letter_rows(base, view.dead_letters, now, settings, "overview"),
                "No dead letters.",
                "dead-letters",
            ),
            _table(
                "Strikes",
                ("Task", "Parameter", "Operator", "Value", ""),
                strikes,
                "No strikes in force.",
                "strikes",
            ),
        ]
    )


def strike_form(base: str, settings: Settings) -> str:
    """The form that adds a strike ('' when actions are off); it sits outside the live region."""
    if not settings.actions_enabled:
        return ""
    operators = "".join(f"<option>{text(op)}</option>" for op in ("==", "!=", ">", ">=", "<", "<="))
    return (
        "<h2>Strike</h2>"
        f'<form class="strike" method="post" action="{text(base)}/actions/strike">'
        f'<input type="hidden" name="csrf" value="{text(settings.csrf_token)}">'
        '<input name="task" placeholder="task (blank: any)" aria-label="task">'
        '<input name="parameter" placeholder="parameter (blank: whole task)" '
        'aria-label="parameter">'
        f'<select name="operator" aria-label="operator">{operators}</select>'
        '<input name="value" placeholder="value: 42, 1.5, true or text" aria-label="value">'
        '<button type="submit" data-action="strike">Strike</button></form>'
    )


def execution_body(view: ExecutionView, base: str, settings: Settings) -> str:
    """One execution's record, progress and live state, with its actions and dead letters."""
    now = view.taken
    heading = f"<h1>Execution <code>{text(view.key)}</code></h1>"
    letters = _table(
        "Dead letters of this key",
        LETTER_HEADERS,
        _letter_rows(base, view.dead_letters, now, settings, "execution"),
        "No dead letters of this key.",
        "dead-letters",
    )
    e = view.execution
    if e is None:
        return (
            heading
            + (
                '<p class="empty">No record under this key: it was never scheduled, or its record '
                "expired (records are kept for the docket's execution_ttl after the end).</p>"
            )
            + letters
        )
    fields = [
        ("State", _state(e.state)),
        ("Task", text(e.function_name)),
        ("Call", f"<code>{text(e.call_repr())}</code>"),
        ("Due", moment(e.when, now)),
        ("Attempt", str(e.attempt)),
        ("Worker", text(e.worker or "—")),
        ("Started", moment(e.started_at, now)),
        ("Ended", moment(e.completed_at, now)),
        ("Generation", str(e.generation)),
        ("Progress", _progress(e)),
        ("Error", f'<pre class="error">{text(e.error)}</pre>' if e.error else "—"),
    ]
    record = "".join(f"<dt>{text(name)}</dt><dd>{value}</dd>" for name, value in fields)
    actions = ""
    if e.state.is_live:
        back = {"key": e.key, "back": "execution"}
        if e.state is not ExecutionState.RUNNING:
            actions += action_form(base, "run-now", back, "Run now", settings)
        actions += action_form(
            base, "cancel", back, "Cancel", settings, confirm="Cancel this work?", danger=True
        )
    return (
        heading
        + f'<dl class="record" data-state="{text(e.state)}">{record}</dl>'
        + (f'<p class="actions">{actions}</p>' if actions else "")
        + letters
    )
