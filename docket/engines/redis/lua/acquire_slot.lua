-- acquire_slot: take one of `limit` slots at a concurrency gate (ConcurrencyLimit).
-- KEYS: slots (zset: holder -> lease deadline ms)
-- ARGV: holder, now ms, limit, lease_until ms, gc ms
-- Returns 1 when the holder has a slot (new, or its own renewed), else 0.
local slots, holder = KEYS[1], ARGV[1]
-- A slot whose lease expired belonged to a run that died: free again.
redis.call('ZREMRANGEBYSCORE', slots, '-inf', ARGV[2])
if not redis.call('ZSCORE', slots, holder) and redis.call('ZCARD', slots) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', slots, ARGV[4], holder)
redis.call('PEXPIRE', slots, ARGV[5])
return 1
