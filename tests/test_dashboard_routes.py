"""The dashboard's ASGI routes, on memory and on a real Redis, through httpx.

Every page (overview, one execution, the live stream), each action (cancel,
run now, replay, purge, strike, restore), read-only mode, the refusal of
actions without an authentication hook, the hook itself, the CSRF checks,
and the escaping of a hostile task key and error.  The plugin's ``docket``
fixture (a VirtualClock) is the dashboard's docket, given as an instance.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from docket import Docket, ExecutionState, Progress, Worker
from docket.dashboard import Dashboard, app
from docket.dashboard.guard import NO_HOOK, READ_ONLY
from tests import engine_urls

pytest.importorskip("starlette")

docket_url = engine_urls.docket_url  # memory://, then the suite's real Redis

HOSTILE = "<script>alert(1)</script>"
ORIGIN = "http://dashboard.test"


async def hello(name: str) -> None:
    """A task the tests schedule for later."""


async def explode(label: str) -> None:
    """A task that fails with markup in its error."""
    raise RuntimeError(f"<b>{label}</b> went wrong")


async def measured(progress: Progress = Progress()) -> None:
    """A task that reports progress and finishes."""
    await progress.set_total(10)
    await progress.increment(3)
    await progress.set_message("three <of> ten")


@asynccontextmanager
async def browse(dashboard: Dashboard) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dashboard)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client


def token_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no action form"
    return found.group(1)


async def act(
    client: httpx.AsyncClient, action: str, fields: dict[str, str], token: str | None
) -> httpx.Response:
    data = dict(fields) if token is None else {**fields, "csrf": token}
    return await client.post(f"/actions/{action}", data=data, headers={"Origin": ORIGIN})


def open_app(docket: Docket, **options: Any) -> Dashboard:
    options.setdefault("allow_unauthenticated_actions", True)
    return app(docket=docket, **options)


async def test_overview_shows_future_work_counts_and_strikes(docket: Docket) -> None:
    later = docket.clock.now() + timedelta(minutes=5)
    await docket.add(hello, when=later, key="greet-ada")("Ada")
    await docket.strike(hello, "name", "==", "Bob")
    async with browse(open_app(docket)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = response.text
    assert 'data-key="greet-ada"' in page
    assert "in 5m" in page
    assert 'data-count="scheduled"><b>1</b>' in page
    assert 'data-count="strikes"><b>1</b>' in page
    assert "&#x27;Bob&#x27;" in page  # the strike's value, escaped
    assert 'action="/actions/strike"' in page


async def test_an_execution_page_shows_its_record_and_progress(docket: Docket) -> None:
    await docket.add(measured, key="measured-1")()
    async with Worker(docket) as worker:
        await worker.run_until_finished()
    async with browse(open_app(docket)) as client:
        page = (await client.get("/executions/measured-1")).text
        missing = (await client.get("/executions/never-there")).text
    assert 'data-state="completed"' in page
    assert 'value="3" max="10"' in page
    assert "three &lt;of&gt; ten" in page
    assert "No record under this key" in missing


async def heard_from(docket: Docket) -> None:
    """Wait (in loop turns, not time) for the worker's first heartbeat."""
    for _ in range(10_000):
        if await docket.workers():
            return
        await asyncio.sleep(0)
    raise AssertionError("the worker never sent a heartbeat")


async def test_running_work_shows_its_worker_and_can_be_cancelled(docket: Docket) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def blocker() -> None:
        started.set()
        await release.wait()

    await docket.add(blocker, key="blocking")()
    async with Worker(docket, name="busy-worker") as worker:
        running = asyncio.create_task(worker.run_until_finished())
        try:
            await asyncio.wait_for(started.wait(), 10)
            await heard_from(docket)
            async with browse(open_app(docket)) as client:
                page = (await client.get("/")).text
                response = await act(client, "cancel", {"key": "blocking"}, token_of(page))
        finally:
            release.set()  # a failed check must not leave the worker waiting on it
            await running
    row = re.search(r'<tr data-key="blocking">.*?</tr>', page, re.DOTALL)
    assert row and "busy-worker" in row.group(0) and "<time" in row.group(0)
    workers = re.search(r'<table class="workers">.*?</table>', page, re.DOTALL)
    assert workers, page
    assert "<td>busy-worker</td>" in workers.group(0) and "<td>alive</td>" in workers.group(0)
    assert response.status_code == 303
    execution = await docket.get_execution("blocking")
    assert execution is not None and execution.state is ExecutionState.CANCELLED


async def test_recent_failures_show_the_error_escaped(docket: Docket) -> None:
    await docket.add(explode, key=HOSTILE)("x")
    dashboard = open_app(docket)
    async with browse(dashboard) as client:
        await client.get("/")  # the dashboard sees the work before it ends
        async with Worker(docket) as worker:
            await worker.run_until_finished()
        page = (await client.get("/")).text
        record = (await client.get("/executions/%3Cscript%3Ealert(1)%3C%2Fscript%3E")).text
    assert HOSTILE not in page and "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt; went wrong" in page
    assert 'id="failures">Recent failures <span class="muted">(1)' in page
    # One failure seen by a dashboard younger than a minute: one per minute.
    assert re.search(r"<td>explode</td>(<td>0</td>){3}<td>0</td><td>1.00</td><td>0</td>", page)
    assert HOSTILE not in record and "&lt;script&gt;alert(1)&lt;/script&gt;" in record
    assert 'data-state="failed"' in record


async def test_a_hostile_key_is_escaped_everywhere(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key=HOSTILE)(HOSTILE)
    async with browse(open_app(docket)) as client:
        page = (await client.get("/")).text
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="/executions/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in page


async def test_cancel_cancels_scheduled_work(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="doomed")("x")
    async with browse(open_app(docket)) as client:
        token = token_of((await client.get("/")).text)
        response = await act(client, "cancel", {"key": "doomed"}, token)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/?notice=Cancelled+doomed.&signed=")
        page = (await client.get(response.headers["location"])).text
        forged = (await client.get("/?notice=Call+0800+now&signed=0123")).text
        unsigned = (await client.get("/?notice=Call+0800+now")).text
    assert '<p class="notice" role="status">Cancelled doomed.</p>' in page
    assert "0800" not in forged and "0800" not in unsigned
    execution = await docket.get_execution("doomed")
    assert execution is not None and execution.state is ExecutionState.CANCELLED


async def test_run_now_makes_future_work_due(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="later")("Ada")
    async with browse(open_app(docket)) as client:
        token = token_of((await client.get("/executions/later")).text)
        response = await act(client, "run-now", {"key": "later", "back": "execution"}, token)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/executions/later?notice=")
    execution = await docket.get_execution("later")
    assert execution is not None and execution.when <= docket.clock.now()
    assert execution.args == ("Ada",)


async def test_run_now_refuses_what_it_cannot_reschedule(docket: Docket) -> None:
    async with Docket(docket.name, docket.url, clock=docket.clock) as producer:
        await producer.add(hello, when=docket.clock.now() + timedelta(hours=1), key="alien")("x")
    async with browse(open_app(docket)) as client:
        token = token_of((await client.get("/")).text)
        unknown = await act(client, "run-now", {"key": "alien"}, token)
        missing = await act(client, "run-now", {"key": "nothing"}, token)
    assert unknown.status_code == 409 and "'hello' is not registered" in unknown.text
    assert missing.status_code == 409 and "no record" in missing.text


async def test_dead_letters_are_listed_replayed_and_purged(docket: Docket) -> None:
    async with Docket(docket.name, docket.url, clock=docket.clock) as producer:
        await producer.add(hello, key="lost-1")("a")
        await producer.add(hello, key="lost-2")("b")
    async with Worker(docket, unknown_task_grace=timedelta(0)) as worker:
        await worker.run_until_finished()
    first, second = await docket.dead_letters()
    async with browse(open_app(docket)) as client:
        page = (await client.get("/")).text
        assert 'data-count="dead letters"><b>2</b>' in page and first.id in page
        token = token_of(page)
        replayed = await act(client, "replay", {"letter": first.id}, token)
        purged = await act(client, "purge", {"letter": second.id}, token)
        again = await act(client, "purge", {"letter": second.id}, token)
    assert replayed.status_code == 303 and "scheduled" in replayed.headers["location"]
    assert purged.status_code == 303
    assert again.status_code == 404
    assert await docket.dead_letters() == []
    execution = await docket.get_execution("lost-1")
    assert execution is not None and execution.state.is_live


async def test_strike_and_restore(docket: Docket) -> None:
    async with browse(open_app(docket)) as client:
        token = token_of((await client.get("/")).text)
        fields = {"task": "hello", "parameter": "name", "operator": "==", "value": "42"}
        struck = await act(client, "strike", fields, token)
        assert struck.status_code == 303
        [rule] = docket.strike_list.rules.rules
        assert (rule.function, rule.parameter, rule.value) == ("hello", "name", 42)
        page = (await client.get("/")).text
        strike_id = re.search(r'name="strike" value="([0-9a-f]+)"', page)
        assert strike_id
        restored = await act(client, "restore", {"strike": strike_id.group(1)}, token)
        empty = await act(client, "strike", {"operator": "=="}, token)
    assert restored.status_code == 303
    assert docket.strike_list.rules.rules == set()
    assert empty.status_code == 400 and "needs a task, a parameter" in empty.text


async def test_read_only_refuses_every_action_and_shows_no_forms(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="kept")("x")
    dashboard = app(docket=docket, read_only=True, allow_unauthenticated_actions=True)
    async with browse(dashboard) as client:
        page = (await client.get("/")).text
        refused = await act(client, "cancel", {"key": "kept"}, dashboard.settings.csrf_token)
    assert "<form" not in page and "Read-only" in page
    assert refused.status_code == 403 and refused.text == READ_ONLY
    execution = await docket.get_execution("kept")
    assert execution is not None and execution.state is ExecutionState.SCHEDULED


async def test_actions_need_a_hook_unless_opted_in(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="kept")("x")
    dashboard = app(docket=docket)
    async with browse(dashboard) as client:
        page = (await client.get("/")).text
        refused = await act(client, "cancel", {"key": "kept"}, dashboard.settings.csrf_token)
    assert "<form" not in page and "no authentication hook" in page
    assert refused.status_code == 403 and refused.text == NO_HOOK
    execution = await docket.get_execution("kept")
    assert execution is not None and execution.state is ExecutionState.SCHEDULED


async def test_the_authorize_hook_decides_pages_and_actions(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="guarded")("x")

    async def by_header(request: Any) -> bool:
        return bool(request.headers.get("x-user") == "ops")

    dashboard = app(docket=docket, authorize=by_header)
    async with browse(dashboard) as client:
        stranger = await client.get("/")
        denied = await act(client, "cancel", {"key": "guarded"}, dashboard.settings.csrf_token)
        client.headers["x-user"] = "ops"
        page = (await client.get("/")).text
        allowed = await act(client, "cancel", {"key": "guarded"}, token_of(page))
    assert stranger.status_code == 403 and "authorize hook refused" in stranger.text
    assert denied.status_code == 403
    assert allowed.status_code == 303
    execution = await docket.get_execution("guarded")
    assert execution is not None and execution.state is ExecutionState.CANCELLED


@pytest.mark.parametrize(
    ("headers", "token", "reason"),
    [
        ({"Origin": ORIGIN}, None, "CSRF token"),
        ({"Origin": ORIGIN}, "not-the-token", "CSRF token"),
        ({"Origin": "http://evil.example"}, "TOKEN", "own page"),
        ({"Referer": "http://evil.example/page"}, "TOKEN", "own page"),
    ],
)
async def test_forged_actions_are_refused(
    docket: Docket, headers: dict[str, str], token: str | None, reason: str
) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="kept")("x")
    dashboard = open_app(docket)
    data = {"key": "kept"}
    if token is not None:
        data["csrf"] = dashboard.settings.csrf_token if token == "TOKEN" else token
    async with browse(dashboard) as client:
        response = await client.post("/actions/cancel", data=data, headers=headers)
        by_get = await client.get("/actions/cancel")
    assert response.status_code == 403 and reason in response.text
    assert by_get.status_code == 405
    execution = await docket.get_execution("kept")
    assert execution is not None and execution.state is ExecutionState.SCHEDULED


async def test_the_live_stream_sends_the_rendered_page(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key=HOSTILE)("x")
    dashboard = open_app(docket)
    chunks = await first_events(dashboard, "/events", b"")
    assert chunks.startswith(b"retry: 3000\n\n")
    assert b'event: refresh\ndata: {"html": ' in chunks
    assert b"&lt;script&gt;" in chunks and b"<script>alert" not in chunks
    one = await first_events(dashboard, "/events", b"key=greet")
    assert b"No record under this key" in one


async def first_events(dashboard: Dashboard, path: str, query: bytes) -> bytes:
    """Open the stream as a browser would, read until the first refresh, then leave."""
    body = bytearray()
    got_event = asyncio.Event()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"dashboard.test")],
        "client": ("127.0.0.1", 1),
        "server": ("dashboard.test", 80),
    }

    async def receive() -> dict[str, Any]:
        await got_event.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
            assert (b"content-type", b"text/event-stream; charset=utf-8") in message["headers"]
        body.extend(message.get("body", b""))
        if b"event: refresh" in body:
            got_event.set()

    serving = asyncio.create_task(dashboard(scope, receive, send))
    await asyncio.wait_for(got_event.wait(), 10)
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    return bytes(body)


async def test_a_dashboard_opens_its_own_docket_from_a_url(docket: Docket) -> None:
    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="seen")("x")
    dashboard = app(url=docket.url, docket=docket.name)
    try:
        async with browse(dashboard) as client:
            page = (await client.get("/")).text
    finally:
        await dashboard.aclose()
    assert 'data-key="seen"' in page


async def test_mounted_under_a_path_every_link_keeps_the_prefix(docket: Docket) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    await docket.add(hello, when=docket.clock.now() + timedelta(hours=1), key="k")("x")
    host = Starlette(routes=[Mount("/ops/docket", app=open_app(docket))])
    async with browse(host) as client:  # type: ignore[arg-type]
        page = (await client.get("/ops/docket/")).text
        script = await client.get("/ops/docket/assets/dashboard.js")
        token = token_of(page)
        response = await client.post("/ops/docket/actions/cancel", data={"key": "k", "csrf": token})
    assert 'href="/ops/docket/executions/k"' in page
    assert 'action="/ops/docket/actions/cancel"' in page
    assert 'data-events="/ops/docket/events"' in page
    assert script.status_code == 200 and "EventSource" in script.text
    assert response.headers["location"].startswith("/ops/docket/?notice=")


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"docket": 42}, TypeError, "docket must be"),
        ({"docket": "name-only"}, ValueError, "url is required"),
        ({"url": "memory://x", "poll_interval": 0}, ValueError, "poll_interval"),
        ({"url": "memory://x", "read_only": "yes"}, TypeError, "read_only"),
        ({"url": "memory://x", "authorize": "admin"}, TypeError, "authorize"),
    ],
)
def test_bad_arguments_are_refused_naming_them(
    options: dict[str, Any], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        app(**options)


def test_a_docket_instance_takes_no_url() -> None:
    docket = Docket("d", "memory://instance")
    build: Callable[..., Any] = app
    with pytest.raises(ValueError, match="url must be None"):
        build(url="memory://other", docket=docket)


async def test_an_action_takes_only_a_small_url_encoded_form(docket: Docket) -> None:
    dashboard = open_app(docket)
    token = dashboard.settings.csrf_token
    async with browse(dashboard) as client:
        as_json = await client.post("/actions/cancel", json={"key": "k", "csrf": token})
        huge = await client.post("/actions/cancel", data={"key": "k" * 70_000, "csrf": token})
        unknown = await act(client, "explode", {"key": "k"}, token)
    assert as_json.status_code == 415 and "URL-encoded form" in as_json.text
    assert huge.status_code == 413
    assert unknown.status_code == 404 and "No such action: 'explode'" in unknown.text


async def test_an_unreachable_docket_is_a_503_without_its_password() -> None:
    dashboard = app(
        url="redis://:hunter2@127.0.0.1:1/0", docket="down", allow_unauthenticated_actions=True
    )
    try:
        async with browse(dashboard) as client:
            page = await client.get("/")
            record = await client.get("/executions/k")
            stream = await client.get("/events")
            action = await act(client, "cancel", {"key": "k"}, dashboard.settings.csrf_token)
    finally:
        await dashboard.aclose()
    for response in (page, record, stream, action):
        assert response.status_code == 503
        assert "hunter2" not in response.text
    assert "Cannot read the docket right now" in page.text
    assert "The cancel action failed" in action.text
