-- cancel: end each key's SCHEDULED, QUEUED or RUNNING work as CANCELLED, in order.
-- KEYS: queue, future, stream, holders, then one record per key
-- ARGV: now, expires_at, gc_ms, events, cancellations channel, then the keys
-- Returns one 1 (cancelled by this call) or 0 (nothing live) per key.  Each key
-- is handled as if alone, so a key given twice is cancelled once, then found
-- ended.  Running work keeps its delivery and lease: the worker holding it is
-- told on the cancellations channel, and its settlement, finding the record no
-- longer running, only acknowledges it.
local queue, future, stream, holders = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, expires_at, gc_ms, events, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local function cancel_one(record, key)
  local current = redis.call('HMGET', record, 'state', 'generation', 'message_id', 'worker')
  local state = current[1]
  if state ~= 'scheduled' and state ~= 'queued' and state ~= 'running' then
    return 0
  end
  withdraw(queue, future, stream, key, current)
  finish(record, 'cancelled', now, expires_at, gc_ms, nil, nil)
  if state ~= 'running' then
    publish(events, key, 'cancelled', current[2])
    return 1
  end
  publish(events, key, 'cancelled', current[2], current[4])
  -- A running record's message_id is the delivery running it (see claiming.lua).
  local delivery = current[3] or ''
  local notice = {key = key, generation = current[2], delivery = delivery}
  local holder = delivery ~= '' and redis.call('HGET', holders, delivery)
  if holder then
    notice.worker = holder
  elseif current[4] then
    notice.worker = current[4]
  end
  redis.call('PUBLISH', channel, cjson.encode(notice))
  return 1
end

local cancelled = {}
for i = 6, #ARGV do
  cancelled[#cancelled + 1] = cancel_one(KEYS[i - 1], ARGV[i])
end
return cancelled
