"""``docket clear``: cancel every scheduled and queued execution of a docket."""

from __future__ import annotations

from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, UrlOption
from docket.cli.support import make_console, open_docket, run

__all__ = ["clear"]


def clear(
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Cancel all scheduled and queued work (running work is left to finish)."""
    console = make_console()

    async def main() -> None:
        async with open_docket(docket_name, url) as docket:
            cleared = await docket.clear()
            console.print(
                f"Cleared {cleared} task{'' if cleared == 1 else 's'} from docket {docket.name!r}",
                markup=False,
                highlight=False,
            )

    run(main, url=url)
