"""The ``docket`` command line (typer): run workers and inspect dockets."""

from __future__ import annotations

from docket.cli.app import app

__all__ = ["app"]
