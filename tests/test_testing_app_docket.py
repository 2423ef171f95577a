"""Testing applications that own their docket: ``swap_docket`` and FastAPI's overrides.

The application here is this module: a module-level docket (``orders``, at
a URL nothing listens on, so any work that reached it instead of the test
docket would fail loudly) and a FastAPI app whose lifespan opens a docket of
its own.  Every test runs on the memory twin and on a real Redis.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from docket import Cron, Docket
from docket_testing import (
    advance,
    assert_no_tasks,
    assert_scheduled,
    run_due,
    swap_docket,
)
from tests import engine_urls

docket_url = engine_urls.docket_url  # memory://, then the suite's real Redis


THIS_MODULE = sys.modules[__name__]

# The application's own docket: never opened by these tests.
orders = Docket("orders", url="redis://127.0.0.1:1/0")

shipped: list[str] = []
reviews: list[str] = []
restocks: list[str] = []


async def ship_order(order_id: str) -> None:
    shipped.append(order_id)


async def ask_for_review(order_id: str) -> None:
    reviews.append(order_id)


async def restock(cron: Cron = Cron("0 3 * * *")) -> None:
    restocks.append("restock")


orders.register(ship_order, names=["ship"])
orders.register(restock)


async def place_order(order_id: str) -> None:
    """Application code: schedules onto the module's docket, by name and by function."""
    await orders.add("ship", key=f"ship-{order_id}")(order_id)
    in_a_week = orders.clock.now() + timedelta(days=7)
    await orders.add(ask_for_review, when=in_a_week, key=f"review-{order_id}")(order_id)


@pytest.fixture(autouse=True)
def empty_records() -> None:
    shipped.clear()
    reviews.clear()
    restocks.clear()


# -- a module-level docket ----------------------------------------------------


async def test_application_code_schedules_onto_the_swapped_docket(docket: Docket) -> None:
    with swap_docket(THIS_MODULE, docket, attribute="orders") as swapped:
        assert swapped is docket and orders is docket
        await place_order("A1")
        runs = await run_due(docket)

    assert [run.key for run in runs] == ["ship-A1"]
    assert shipped == ["A1"]
    await assert_scheduled(
        docket, ask_for_review, args=("A1",), when=docket.clock.now() + timedelta(days=7)
    )
    await advance(docket, timedelta(days=7))
    assert reviews == ["A1"]
    assert orders is not docket and orders.url == "redis://127.0.0.1:1/0"


async def test_tasks_registered_with_the_application_docket_come_along(docket: Docket) -> None:
    assert "ship" not in docket.tasks
    with swap_docket(THIS_MODULE, docket, attribute="orders"):
        assert docket.tasks["ship"] is ship_order
        assert docket.tasks["restock"] is restock
        # The application's Cron task is seeded by the test's worker, as in production.
        await advance(docket, timedelta(days=2))
    assert restocks == ["restock", "restock"]


async def test_a_stand_in_the_test_registered_is_kept(docket: Docket) -> None:
    stood_in: list[str] = []

    async def fake_ship(order_id: str) -> None:
        stood_in.append(order_id)

    docket.register(fake_ship, names=["ship"])
    with swap_docket(THIS_MODULE, docket, attribute="orders"):
        await place_order("A2")
        await run_due(docket)
    assert (stood_in, shipped) == (["A2"], [])


async def test_the_original_is_back_when_the_block_raises(docket: Docket) -> None:
    with pytest.raises(RuntimeError, match="inside"):
        with swap_docket(THIS_MODULE, docket, attribute="orders"):
            raise RuntimeError("inside")
    assert orders is not docket


async def test_swaps_on_any_object_such_as_app_state(docket: Docket) -> None:
    app = FastAPI()
    app.state.docket = orders
    with swap_docket(app.state, docket):
        assert app.state.docket is docket
    assert app.state.docket is orders


def test_a_missing_attribute_is_refused_untouched() -> None:
    app = FastAPI()
    with pytest.raises(AttributeError, match="no attribute 'docket'"):
        with swap_docket(app.state, orders):
            pass
    with pytest.raises(AttributeError, match="no attribute 'order'"):
        with swap_docket(THIS_MODULE, orders, attribute="order"):
            pass


def test_an_attribute_that_is_not_a_docket_is_refused() -> None:
    with pytest.raises(TypeError, match="attribute 'shipped' must hold a docket.Docket.*\\[\\]"):
        with swap_docket(THIS_MODULE, orders, attribute="shipped"):
            pass
    assert shipped == []


@pytest.mark.parametrize("attribute", ["", "app.docket", 3])
def test_a_bad_attribute_name_is_refused(attribute: object) -> None:
    with pytest.raises(ValueError, match=f"attribute must be an attribute name, got {attribute!r}"):
        with swap_docket(THIS_MODULE, orders, attribute=attribute):  # type: ignore[arg-type]
            pass


def test_the_replacement_must_be_a_docket() -> None:
    with pytest.raises(TypeError, match="docket must be a docket.Docket, got 'memory://'"):
        with swap_docket(THIS_MODULE, "memory://", attribute="orders"):  # type: ignore[arg-type]
            pass
    assert isinstance(orders, Docket)


# -- a FastAPI application whose lifespan opens the docket -----------------------

lifespan_url = f"memory://shop-lifespan-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with Docket("shop-api", url=lifespan_url) as opened:
        app.state.docket = opened
        yield


api = FastAPI(lifespan=lifespan)


def get_docket(request: Request) -> Docket:
    docket: Docket = request.app.state.docket
    return docket


@api.post("/orders/{order_id}", status_code=202)
async def create_order(
    order_id: str, docket: Annotated[Docket, Depends(get_docket)]
) -> dict[str, str]:
    await docket.add(ship_order, key=f"ship-{order_id}")(order_id)
    in_a_week = docket.clock.now() + timedelta(days=7)
    await docket.add(ask_for_review, when=in_a_week, key=f"review-{order_id}")(order_id)
    return {"order": order_id, "status": "accepted"}


@api.get("/orders/{order_id}/status")
async def order_status(order_id: str, request: Request) -> dict[str, str | None]:
    # Reads the state directly, without the dependency.
    docket: Docket = request.app.state.docket
    execution = await docket.get_execution(f"ship-{order_id}")
    return {"ship": None if execution is None else execution.state.value}


@pytest.fixture
def overridden(docket: Docket) -> Iterator[Docket]:
    api.dependency_overrides[get_docket] = lambda: docket
    try:
        yield docket
    finally:
        api.dependency_overrides.pop(get_docket, None)


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")


async def test_an_endpoint_schedules_onto_the_overriding_docket(overridden: Docket) -> None:
    async with client_of(api) as client:
        response = await client.post("/orders/B2")
    assert response.status_code == 202
    assert response.json() == {"order": "B2", "status": "accepted"}

    await assert_scheduled(overridden, ship_order, args=("B2",), key="ship-B2")
    await run_due(overridden)
    assert shipped == ["B2"]
    await advance(overridden, timedelta(days=6))
    assert reviews == []
    await advance(overridden, timedelta(days=1))
    assert reviews == ["B2"]
    await assert_no_tasks(overridden)


async def test_without_the_override_the_endpoint_needs_the_lifespan(docket: Docket) -> None:
    # ASGITransport runs no lifespan: nothing set app.state.docket, and the
    # test docket is untouched.  That is why the override is needed.
    with pytest.raises(AttributeError, match="docket"):
        async with client_of(api) as client:
            await client.post("/orders/B3")
    await assert_no_tasks(docket)


async def test_after_the_lifespan_app_state_can_be_swapped(docket: Docket) -> None:
    async with api.router.lifespan_context(api):
        own = api.state.docket
        with swap_docket(api.state, docket):
            async with client_of(api) as client:
                assert (await client.post("/orders/C4")).status_code == 202
                await run_due(docket)
                status = await client.get("/orders/C4/status")
        assert status.json() == {"ship": "completed"}
        assert shipped == ["C4"]
        assert api.state.docket is own
        await assert_no_tasks(own)
        assert await own.get_execution("ship-C4") is None
