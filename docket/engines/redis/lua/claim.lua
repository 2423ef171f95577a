-- claim: promote due work, reclaim expired leases, then hand out queued work
-- (see claiming.lua).
-- KEYS: stream, queue, future, leases, holders, wake
-- ARGV: group, worker, count, now, lease_until, promote_limit, runs, events
return claim_batch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2],
  tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8])
