-- settle_and_claim: settle a batch, then claim, in one call: a worker's
-- steady state is one of these per batch (see settling.lua and claiming.lua).
-- KEYS: stream, queue, future, leases, holders, generation, wake, record...
-- ARGV: group, now, events, worker, count, lease_until, promote_limit, runs,
--       then each settlement's 13 or 21 values (see settling.lua).
-- Returns {settle's reply, claim's reply}.
local settled = settle_batch(8)
local claimed = claim_batch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7], ARGV[1], ARGV[4],
  tonumber(ARGV[5]), ARGV[2], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[3])
return {settled, claimed}
