-- probe (read only): how much queued work waits, and the wake stream's cursor.
-- KEYS: queue, stream, leases, wake
local queued = redis.call('ZCARD', KEYS[1])
  + math.max(0, redis.call('XLEN', KEYS[2]) - redis.call('ZCARD', KEYS[3]))
return {queued, last_id(KEYS[4])}
