-- cancel: end a key's SCHEDULED, QUEUED or RUNNING work as CANCELLED.
-- KEYS: record, queue, future, stream, holders
-- ARGV: key, now, expires_at, gc_ms, events, cancellations channel
-- Running work keeps its delivery and lease: the worker holding it is told on
-- the cancellations channel, and its settlement, finding the record no longer
-- running, only acknowledges it.
local record, holders = KEYS[1], KEYS[5]
local key = ARGV[1]
local current = redis.call('HMGET', record, 'state', 'generation', 'message_id', 'worker')
local state = current[1]
if state ~= 'scheduled' and state ~= 'queued' and state ~= 'running' then
  return 0
end
withdraw(KEYS[2], KEYS[3], KEYS[4], key, current)
finish(record, 'cancelled', ARGV[2], ARGV[3], ARGV[4], nil, nil)
if state ~= 'running' then
  publish(ARGV[5], key, 'cancelled', current[2])
  return 1
end
publish(ARGV[5], key, 'cancelled', current[2], current[4])
-- A running record's message_id is the delivery running it (see claiming.lua).
local delivery = current[3] or ''
local notice = {key = key, generation = current[2], delivery = delivery}
local holder = delivery ~= '' and redis.call('HGET', holders, delivery)
if holder then
  notice.worker = holder
elseif current[4] then
  notice.worker = current[4]
end
redis.call('PUBLISH', ARGV[6], cjson.encode(notice))
return 1
