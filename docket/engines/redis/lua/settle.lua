-- settle: acknowledge deliveries and end or reschedule their records, fenced
-- by generation.  One call settles a whole batch (see settling.lua).
-- KEYS: stream, queue, future, leases, holders, generation, wake, record...
-- ARGV: group, now, events, then 18 values per settlement.
-- Returns one 1/0 per settlement (1 when it changed the record), then woke.
return settle_batch(3)
