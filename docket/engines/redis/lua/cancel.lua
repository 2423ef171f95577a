-- cancel: end SCHEDULED or QUEUED work under a key as CANCELLED.
-- KEYS: record, queue, future, stream
-- ARGV: key, now, expires_at, gc_ms, events
local record = KEYS[1]
local key = ARGV[1]
local current = redis.call('HMGET', record, 'state', 'generation', 'message_id')
if current[1] ~= 'scheduled' and current[1] ~= 'queued' then
  return 0
end
withdraw(KEYS[2], KEYS[3], KEYS[4], key, current)
finish(record, 'cancelled', ARGV[2], ARGV[3], ARGV[4], nil, nil)
publish(ARGV[5], key, 'cancelled', current[2])
return 1
