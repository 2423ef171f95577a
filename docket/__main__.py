"""``python -m docket``: the command line."""

from __future__ import annotations


def main() -> None:
    """Run the ``docket`` command line."""
    from docket.cli import app

    app()


if __name__ == "__main__":
    main()
