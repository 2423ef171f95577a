"""The Redis key layout of one docket.

Every key of docket ``NAME`` starts with the hash tag ``{NAME}:``, so all of
them sit on one cluster slot and one ACL pattern (``~{NAME}:*``) covers them.
System keys have fixed names; the record of a user's task key ``K`` lives at
``{NAME}:runs:K``, a namespace no system key uses, so a user key such as
``stream`` or ``runs:x`` can never collide with (or be mistaken for) one.

=====================  ====================================================
key                    what it holds
=====================  ====================================================
``{N}:runs:<key>``     hash: the execution record of one task key
``{N}:future``         zset: SCHEDULED work, score = ``when`` in ms
``{N}:queue``          zset: QUEUED work not yet handed out, score = ``when``
``{N}:stream``         stream + group ``docket-workers``: handed-out work
``{N}:leases``         zset: delivery (stream id) -> lease deadline in ms
``{N}:holders``        hash: delivery -> worker holding its lease
``{N}:generation``     counter: the last generation handed out
``{N}:wake``           capped stream: wakes blocked readers in other processes
``{N}:dead``           capped stream: dead letters, id = letter id, trimmed
                       by each letter's expires_at (on the caller's clock)
``{N}:workers``        hash: worker -> heartbeat JSON (last seen, tasks)
``{N}:workers-seen``   zset: worker -> last heartbeat in ms
``{N}:strikes``        hash: strike rule id -> encoded rule
``{N}:gates:<gate>``   zset: holder -> ms let through (Cooldown, RateLimit)
``{N}:debounce:<g>``   hash: the winner of debounce gate ``g`` and when it
                       last saw a call
``{N}:slots:<gate>``   zset: holder -> lease deadline in ms (ConcurrencyLimit)
``{N}:parked:<gate>``  list: future-set members of runs waiting for a slot
=====================  ====================================================

Members of ``future`` and ``queue`` are ``<generation, 20 digits>:<key>`` so
that equal scores order by generation (see ``lua/common.lua``).

Pub/sub channels (not keys):

=========================  ================================================
channel                    what is published on it
=========================  ================================================
``{N}:events:<key>``       JSON state and progress events of one task key
``{N}:strike-changes``     the id of each strike rule set or removed
``{N}:cancellations``      JSON notice (key, generation, delivery, worker)
                           each time ``cancel`` ends running work
=========================  ================================================

The fixed names and the prefixes above are the docket's own; they are
listed once, in ``docket.engines.layout``, and users' own keys beside them
(``Engine.user_key``) may take any other name under ``{N}:``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from docket.engines import layout

__all__ = ["DocketKeys", "GROUP"]

GROUP = "docket-workers"
"""The consumer group every worker reads the stream through."""


@dataclass(frozen=True)
class DocketKeys:
    """The names of every key and channel of one docket.

    Each fixed name is built once, on first use: every ``add`` asks for
    several of them.
    """

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            # An empty hash tag "{}" would hash each key on its own, scattering
            # one docket over the cluster.
            raise ValueError(f"a docket name must be a non-empty string, got {self.name!r}")

    @cached_property
    def prefix(self) -> str:
        """``{name}:``, the start of every key of this docket."""
        return layout.docket_prefix(self.name)

    def _key(self, suffix: str) -> str:
        return self.prefix + suffix

    @cached_property
    def stream(self) -> str:
        return self._key("stream")

    @cached_property
    def future(self) -> str:
        return self._key("future")

    @cached_property
    def queue(self) -> str:
        return self._key("queue")

    @cached_property
    def leases(self) -> str:
        return self._key("leases")

    @cached_property
    def holders(self) -> str:
        return self._key("holders")

    @cached_property
    def generation(self) -> str:
        return self._key("generation")

    @cached_property
    def wake(self) -> str:
        return self._key("wake")

    @cached_property
    def dead(self) -> str:
        return self._key("dead")

    @cached_property
    def workers(self) -> str:
        return self._key("workers")

    @cached_property
    def workers_seen(self) -> str:
        return self._key("workers-seen")

    @cached_property
    def strikes(self) -> str:
        return self._key("strikes")

    @cached_property
    def strike_channel(self) -> str:
        """The pub/sub channel told of every change to the strike rules."""
        return self._key("strike-changes")

    @cached_property
    def cancellation_channel(self) -> str:
        """The pub/sub channel told each time ``cancel`` ends running work."""
        return self._key("cancellations")

    @cached_property
    def runs_prefix(self) -> str:
        """The prefix of every record key; scripts append task keys to it."""
        return self._key(layout.RUNS)

    @cached_property
    def events_prefix(self) -> str:
        """The prefix of every event channel."""
        return self._key("events:")

    def record(self, key: str) -> str:
        """The record hash of task key ``key``."""
        return self.runs_prefix + key

    def gate(self, gate: str) -> str:
        """The sliding-window zset of flow-control gate ``gate``."""
        return self._key(layout.GATES + gate)

    def debounce(self, gate: str) -> str:
        """The hash of debounce gate ``gate``."""
        return self._key(layout.DEBOUNCE + gate)

    def slots(self, gate: str) -> str:
        """The slot zset of concurrency gate ``gate``."""
        return self._key(layout.SLOTS + gate)

    def parked(self, gate: str) -> str:
        """The list of runs parked at concurrency gate ``gate``."""
        return self._key(layout.PARKED + gate)

    def channel(self, key: str) -> str:
        """The pub/sub channel of task key ``key``'s events."""
        return self.events_prefix + key

    def system_keys(self) -> tuple[str, ...]:
        """Every fixed key of this docket (records excluded)."""
        return tuple(self._key(name) for name in layout.SYSTEM_KEYS)
