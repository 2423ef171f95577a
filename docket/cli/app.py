"""The ``docket`` typer application: assembles the commands defined beside it.

Each command lives in its own module (``worker``, ``watch``, ``snapshot``,
``strikes``, ``clear``, ``workers``, ``tasks``, ``dead_letters``); this one
only names them and adds ``version``.  Every option shared between commands
reads a ``DOCKET_*`` environment variable (see each command's ``--help``).
"""

from __future__ import annotations

import typer

from docket import __version__
from docket.cli import dead_letters, strikes, tasks, workers
from docket.cli.clear import clear
from docket.cli.dashboard import dashboard
from docket.cli.dockets import ls
from docket.cli.signing import add_signing_key_option
from docket.cli.snapshot import snapshot
from docket.cli.strikes import restore, strike
from docket.cli.watch import watch
from docket.cli.worker import worker

__all__ = ["app"]

app = typer.Typer(
    name="docket",
    help="docket: background work for asyncio on Redis Streams.",
    no_args_is_help=True,
    # pydocket's app has --install-completion and --show-completion too.
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def version() -> None:
    """Print docket's version."""
    typer.echo(__version__)


app.command()(worker)
app.command()(watch)
app.command()(snapshot)
app.command()(strike)
app.command()(restore)
app.command()(clear)
app.command()(dashboard)
app.command("ls")(ls)
app.add_typer(workers.app, name="workers")
app.add_typer(tasks.app, name="tasks")
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(strikes.app, name="strikes")
# Last: it wraps every command registered above.
add_signing_key_option(app)
