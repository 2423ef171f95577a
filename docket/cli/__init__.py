"""The ``docket`` command line (typer): run workers, watch and inspect dockets.

``docket.cli.app`` is the typer application; ``python -m docket`` and the
``docket`` script run it.
"""

from __future__ import annotations

from docket.cli.app import app

__all__ = ["app"]
