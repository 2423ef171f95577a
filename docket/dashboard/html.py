"""The dashboard's HTML building blocks: escaping, times, action forms and the page around them.

Every value from a docket reaches the page through ``text`` (``html.escape``,
quotes included), so a task key like ``<script>`` prints as text.  Script and
style are served from the app's own ``/assets`` routes and the pages carry a
Content-Security-Policy that allows nothing else, so even a value that
escaped escaping could not run.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

from docket.dashboard.source import Settings

__all__ = [
    "CSP",
    "CSS",
    "SCRIPT",
    "action_form",
    "duration",
    "execution_link",
    "moment",
    "page",
    "text",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)
"""The Content-Security-Policy of every page: only the dashboard's own script and style."""


def text(value: object) -> str:
    """``value`` as escaped HTML text (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def duration(seconds: float) -> str:
    """A short human duration: ``850ms``, ``42s``, ``3m 5s``, ``2h 10m``, ``4d 3h``."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    for size, unit, smaller, small_unit in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "m"),
        (60, "m", 1, "s"),
    ):
        if whole >= size:
            rest = (whole % size) // smaller
            return f"{whole // size}{unit}" + (f" {rest}{small_unit}" if rest else "")
    return f"{whole}s"


def moment(when: datetime | None, now: datetime) -> str:
    """``when`` as "in 5s" or "12s ago", with the exact time as a tooltip."""
    if when is None:
        return "—"
    seconds = (when - now).total_seconds()
    said = (
        "now"
        if abs(seconds) < 0.5
        else (f"in {duration(seconds)}" if seconds > 0 else f"{duration(seconds)} ago")
    )
    exact = text(when.isoformat())
    return f'<time datetime="{exact}" title="{exact}">{text(said)}</time>'


def execution_link(base: str, key: str) -> str:
    """A link to the page of the execution under ``key``."""
    return f'<a href="{text(base)}/executions/{text(quote(key, safe=""))}">{text(key)}</a>'


def action_form(
    base: str,
    action: str,
    fields: Mapping[str, str],
    label: str,
    settings: Settings,
    *,
    confirm: str | None = None,
    danger: bool = False,
) -> str:
    """A POST form for ``action`` carrying ``fields`` and the CSRF token ('' when actions are off)."""
    if not settings.actions_enabled:
        return ""
    hidden = "".join(
        f'<input type="hidden" name="{text(name)}" value="{text(value)}">'
        for name, value in {**fields, "csrf": settings.csrf_token}.items()
    )
    ask = f' data-confirm="{text(confirm)}"' if confirm else ""
    style = ' class="danger"' if danger else ""
    return (
        f'<form class="action" method="post" action="{text(base)}/actions/{text(action)}"{ask}>'
        f'{hidden}<button type="submit"{style} data-action="{text(action)}">{text(label)}'
        "</button></form>"
    )


def _banner(settings: Settings) -> str:
    if settings.read_only:
        return '<p class="banner">Read-only: actions are turned off.</p>'
    if not settings.actions_enabled:
        return (
            '<p class="banner">Actions are off: this dashboard has no authentication hook. '
            "Give <code>authorize=</code>, or opt in with "
            "<code>allow_unauthenticated_actions=True</code> "
            "(<code>--allow-unauthenticated-actions</code>).</p>"
        )
    return ""


def page(
    title: str,
    body: str,
    *,
    base: str,
    settings: Settings,
    events: str,
    notice: str | None = None,
    still: str = "",
) -> str:
    """A whole HTML document: header, notice, ``body`` in a region ``events`` keeps live.

    ``still`` follows the live region and is never replaced (forms being typed into).
    """
    shown = f'<p class="notice" role="status">{text(notice)}</p>' if notice else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text(title)}</title>"
        f'<link rel="stylesheet" href="{text(base)}/assets/dashboard.css">'
        f'<script src="{text(base)}/assets/dashboard.js" defer></script>'
        "</head><body>"
        f'<header><a class="brand" href="{text(base)}/">{text(settings.title)}</a>'
        f'<span id="status" class="status">loading</span></header>'
        f"<main>{_banner(settings)}{shown}"
        f'<div id="live" data-events="{text(events)}">{body}</div>{still}</main>'
        "</body></html>"
    )


SCRIPT = """\
// Keeps #live current from the dashboard's server-sent events, and asks before
// destructive actions.  No framework and no build step.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  var live = document.getElementById("live");
  var status = document.getElementById("status");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-events"));
  source.addEventListener("refresh", function (event) {
    live.innerHTML = JSON.parse(event.data).html;
    status.textContent = "live";
    status.className = "status live";
    document.body.setAttribute("data-refreshed", String(Date.now()));
  });
  source.addEventListener("error", function () {
    status.textContent = "reconnecting";
    status.className = "status down";
  });
})();
"""
"""The page script: live updates over EventSource, and confirmation of actions."""

CSS = """\
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f8f9fb; --accent: #3452d1;
  --bad: #b42318; --ok: #067647; --warn: #b54708; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1rem; padding: .7rem 1.2rem;
  background: #111827; color: #fff; }
header .brand { color: #fff; font-weight: 600; text-decoration: none; font-size: 1.1rem; }
.status { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #374151; }
.status.live { background: var(--ok); } .status.down { background: var(--bad); }
main { padding: 1rem 1.2rem; max-width: 1400px; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
.cards { display: flex; flex-wrap: wrap; gap: .7rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: .5rem;
  padding: .6rem .9rem; min-width: 8rem; }
.card b { display: block; font-size: 1.5rem; } .card span { color: var(--muted); }
table { border-collapse: collapse; width: 100%; background: #fff;
  border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #f2f4f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted, .empty { color: var(--muted); }
.error { color: var(--bad); white-space: pre-wrap; font-family: ui-monospace, monospace;
  font-size: .85em; max-height: 12rem; overflow: auto; margin: 0; }
code, .mono { font-family: ui-monospace, monospace; font-size: .9em; word-break: break-all; }
.state { padding: .05rem .45rem; border-radius: 1rem; font-size: .8rem; background: #eef2ff; }
.state-failed, .late { color: var(--bad); } .state-completed { color: var(--ok); }
.state-running { color: var(--accent); } .state-cancelled { color: var(--warn); }
form.action { display: inline; margin: 0 .2rem 0 0; }
button { font: inherit; font-size: .85rem; padding: .15rem .6rem; border-radius: .3rem;
  border: 1px solid #98a2b3; background: #fff; cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
.banner { background: #fffaeb; border: 1px solid #fedf89; padding: .5rem .8rem; }
.notice { background: #ecfdf3; border: 1px solid #abefc6; padding: .5rem .8rem; }
form.strike { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
form.strike input, form.strike select { font: inherit; padding: .15rem .3rem; }
progress { width: 14rem; } dl { display: grid; grid-template-columns: 10rem 1fr; gap: .3rem; }
dt { color: var(--muted); } dd { margin: 0; }
"""
"""The dashboard's stylesheet."""
