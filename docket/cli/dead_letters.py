"""``docket dead-letters ls | show | replay | purge``: what workers set aside, and what to do with it.

Each command opens the docket like every other (``--docket``, ``--url`` and
their ``DOCKET_*`` variables) and uses only the public ``Docket`` methods on
dead letters (``docket.dead_letters``).  ``show`` decodes the arguments the
way a worker would, so it may import the task's module: point it only at
dockets whose producers you trust.  Commands that cannot be undone (``purge``,
and ``replay`` of several letters) do nothing without ``--yes``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from docket.cli.options import DEFAULT_DOCKET, DEFAULT_URL, DocketOption, UrlOption, parse_duration
from docket.cli.snapshot import format_when
from docket.cli.support import CLIError, make_console, one_line, open_docket, run
from docket.dead_letters import DeadLetter, decode_arguments
from docket.docket import Docket
from docket.serialization import DEFAULT_CODEC, Codec
from docket.states import Disposition

__all__ = ["app", "letter_details", "letters_table", "parse_when"]

app = typer.Typer(
    help="List, inspect, replay and purge the work workers set aside as dead letters.",
    no_args_is_help=True,
)

REASON_WIDTH = 80
"""The most characters of a reason ``ls`` shows; ``show`` prints all of it."""

TaskOption = Annotated[
    str | None,
    typer.Option("--task", "-t", metavar="TASK", help="Only letters of this task (exact name)."),
]
ReasonOption = Annotated[
    str | None,
    typer.Option(
        "--reason",
        "-r",
        metavar="TEXT",
        help="Only letters whose reason contains TEXT (case-sensitive).",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do it: the change cannot be undone.")]
IdsArgument = Annotated[list[str], typer.Argument(metavar="ID...", help="Letter ids (see ls).")]


def _cut(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def letters_table(letters: list[DeadLetter], now: datetime) -> Table:
    """ID / Key / Task / Reason / Worker / Attempt / Set Aside, one letter a row."""
    table = Table()
    for column in ("ID", "Key", "Task", "Reason", "Worker", "Attempt"):
        table.add_column(column, overflow="fold")
    table.add_column("Set Aside", no_wrap=True)
    for letter in letters:
        table.add_row(
            Text(letter.id),
            Text(letter.key or ""),
            Text(letter.function_name or ""),
            Text(_cut(letter.reason, REASON_WIDTH)),
            Text(letter.worker or ""),
            Text("" if letter.attempt is None else str(letter.attempt)),
            Text(format_when(letter.set_aside_at, now)),
        )
    return table


def letter_details(letter: DeadLetter, now: datetime, codec: Codec = DEFAULT_CODEC) -> Table:
    """Every part of one letter, its arguments decoded by ``codec`` (or why they cannot be)."""
    table = Table(show_header=False, box=None)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    try:
        args, kwargs = decode_arguments(letter, codec)
        arguments = [("args", repr(args)), ("kwargs", repr(kwargs))]
    except ValueError as error:
        arguments = [("arguments", str(error))]
    rows = [
        ("id", letter.id),
        ("key", letter.key or ""),
        ("task", letter.function_name or ""),
        ("reason", letter.reason),
        *arguments,
        ("payload", "" if letter.payload is None else f"{len(letter.payload)} bytes"),
        ("when", format_when(letter.when, now)),
        ("attempt", "" if letter.attempt is None else str(letter.attempt)),
        ("worker", letter.worker or ""),
        ("delivery", letter.delivery or ""),
        ("set aside", format_when(letter.set_aside_at, now)),
        ("expires", format_when(letter.expires_at, now)),
        *((f"header {name}", value) for name, value in sorted(letter.headers.items())),
        *((f"field {name}", value) for name, value in sorted(letter.fields.items())),
    ]
    for name, value in rows:
        table.add_row(Text(name), Text(value))
    return table


def parse_when(text: str | None, now: datetime) -> datetime | None:
    """``--when``: an ISO 8601 time (UTC unless it names a zone), or a duration from ``now``."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return now + parse_duration(text, "--when")
        except CLIError:
            raise CLIError(
                f"invalid --when {text!r}: expected an ISO 8601 time such as "
                "2030-01-01T09:00:00+00:00, or a duration from now such as 10m"
            ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _plural(count: int, noun: str = "dead letter") -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@app.command("ls")
def ls(
    task: TaskOption = None,
    reason: ReasonOption = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most this many, the latest.")
    ] = 100,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """List dead letters, oldest first: the latest --limit that match."""
    console = make_console()

    async def main() -> None:
        async with open_docket(docket_name, url) as docket:
            letters = await docket.dead_letters(limit, task=task, reason=reason)
            console.print(letters_table(letters, docket.clock.now()))
            console.print(Text(f"{_plural(len(letters))} in docket {docket.name!r}"))

    run(main, url=url)


@app.command("show")
def show(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="The letter's id (see ls).")],
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Print everything a dead letter holds, its arguments decoded.

    Decoding may import the task's module (run it where that module is importable).
    """
    console = make_console()

    async def main() -> None:
        async with open_docket(docket_name, url) as docket:
            letter = await docket.dead_letter(letter_id)
            if letter is None:
                raise CLIError(f"no dead letter {letter_id!r} in docket {docket.name!r}")
            console.print(letter_details(letter, docket.clock.now(), docket.codec))

    run(main, url=url)


async def _replay_one(
    docket: Docket, letter_id: str, when: datetime | None, key: str | None
) -> bool:
    execution = await docket.replay_dead_letter(letter_id, when=when, key=key)
    if execution.disposition is Disposition.SCHEDULED:
        typer.echo(
            f"Replayed {letter_id} as {execution.key!r} ({execution.function_name}), "
            f"due {execution.when.isoformat()}"
        )
        return True
    typer.echo(
        f"Not replayed {letter_id}: key {execution.key!r} is still "
        f"{execution.state.value}; the letter is kept",
        err=True,
    )
    return False


@app.command("replay")
def replay(
    letter_ids: IdsArgument,
    when: Annotated[
        str | None,
        typer.Option(
            "--when",
            metavar="WHEN",
            help="When to run it: an ISO 8601 time (UTC unless a zone is given) or a "
            "duration from now (10m). Default: now.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", metavar="KEY", help="Run it under this key (one letter only)."),
    ] = None,
    yes: YesOption = False,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Schedule dead letters again with their original arguments, and remove them.

    Each runs under its own key unless --key is given.  A key that is still
    live schedules nothing and keeps the letter.  Several ids need --yes.
    """

    async def main() -> None:
        if len(letter_ids) > 1 and key is not None:
            raise CLIError("--key names one key: give it with one letter id only")
        if len(letter_ids) > 1 and not yes:
            raise CLIError(
                f"replaying {len(letter_ids)} dead letters schedules each again and removes "
                "it; add --yes to do it"
            )
        async with open_docket(docket_name, url) as docket:
            due = parse_when(when, docket.clock.now())
            replayed = [await _replay_one(docket, i, due, key) for i in letter_ids]
            if not all(replayed):
                raise CLIError(f"{replayed.count(False)} of {len(replayed)} not replayed")

    run(main, url=url)


@app.command("purge")
def purge(
    letter_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ID]...", help="Letter ids to remove (see ls)."),
    ] = None,
    task: TaskOption = None,
    reason: ReasonOption = None,
    everything: Annotated[bool, typer.Option("--all", help="Remove every dead letter.")] = False,
    yes: YesOption = False,
    docket_name: DocketOption = DEFAULT_DOCKET,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Remove dead letters for good: those named, those --task/--reason match, or --all."""
    ids = letter_ids or []

    async def main() -> None:
        if sum((bool(ids), task is not None or reason is not None, everything)) != 1:
            raise CLIError(
                "give letter ids, --task and/or --reason, or --all (exactly one of them)"
            )
        if not yes:
            raise CLIError("purge removes dead letters for good; add --yes to do it")
        async with open_docket(docket_name, url) as docket:
            removed = await docket.purge_dead_letters(
                *ids, task=task, reason=reason, everything=everything
            )
            typer.echo(f"Removed {_plural(removed)} from docket {docket.name!r}")

    run(main, url=url)
