-- release_slot: give a slot back and wake the first run parked at the gate.
-- KEYS: slots, parked (list of future-set members, first parked first),
--       future, queue, wake
-- ARGV: holder, now ms, limit, runs prefix, events prefix
local slots, parked, future, queue, wakes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = ARGV[2]
redis.call('ZREM', slots, ARGV[1])
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
if redis.call('ZCARD', slots) >= tonumber(ARGV[3]) then return 0 end
while true do
  local m = redis.call('LPOP', parked)
  if not m then return 0 end
  local key = member_key(m)
  local record = ARGV[4] .. key
  local current = read_fields(record, 'state', 'generation')
  -- Skip runs cancelled, replaced or already due since they were parked.
  if current and current[1] == 'scheduled' and is_member_of(m, current, key) then
    redis.call('ZREM', future, m)
    redis.call('HSET', record, 'state', 'queued', 'when', now)
    redis.call('ZADD', queue, now, m)
    publish(ARGV[5], key, 'queued', current[2])
    wake(wakes)
    return 1
  end
end
