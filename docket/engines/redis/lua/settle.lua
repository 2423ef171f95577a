-- settle: acknowledge deliveries and end or reschedule their records, fenced
-- by generation.  One call settles a whole batch (see settling.lua).
-- KEYS: stream, queue, future, leases, holders, generation, wake, record...
-- ARGV: group, now, events, then each settlement's 13 or 21 values (see settling.lua).
-- Returns one 1/0 per settlement (1 when it changed the record), then woke.
return settle_batch(3)
