"""docket_testing: a pytest plugin for applications that use docket.

It provides a ``VirtualClock`` (``clock``), a Docket on ``memory://`` driven
by it (``docket``) and a Worker for that docket (``worker``).
"""

from __future__ import annotations

__all__: list[str] = []
