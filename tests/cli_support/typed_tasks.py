"""Tasks with annotated parameters, for ``docket strike --tasks`` to read values by."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Optional
from uuid import UUID

from docket import CurrentDocket, Docket


class Tier(enum.Enum):
    """An enum whose values are text."""

    GOLD = "gold"
    SILVER = "silver"


class Level(enum.IntEnum):
    """An enum whose values are numbers."""

    LOW = 1
    HIGH = 2


async def charge(
    order_id: int,
    amount: Decimal,
    rate: float = 1.0,
    note: str = "",
    express: bool = False,
    customer: Optional[UUID] = None,  # noqa: UP045 - Optional is what is tested
    placed: datetime | None = None,
    due: Annotated[date | None, "when it is due"] = None,
    grace: timedelta = timedelta(0),
    tier: Tier = Tier.SILVER,
    level: Level = Level.LOW,
    anything: Any = None,
    untyped=None,  # type: ignore[no-untyped-def]
    either: int | str = 0,
    docket: Docket = CurrentDocket(),
) -> None:
    """Every kind of annotation a strike value can be read as."""


async def refund(order_id: int) -> None:
    """Shares order_id (an int) with charge."""


async def label(order_id: str) -> None:
    """Has an order_id that is text."""


tasks = [charge, refund]
disagreeing = [charge, label]
