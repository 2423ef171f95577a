-- clear: cancel every SCHEDULED and QUEUED execution; return how many.
-- KEYS: queue, future, stream
-- ARGV: runs, events, now, expires_at, gc_ms
local queue, future, stream = KEYS[1], KEYS[2], KEYS[3]
local runs, events, now, expires_at, gc_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local BATCH = 500
local cancelled = 0

local function cancel(key, generation)
  finish(runs .. key, 'cancelled', now, expires_at, gc_ms, nil, nil)
  publish(events, key, 'cancelled', generation)
  cancelled = cancelled + 1
end

for _, pair in ipairs({{future, 'scheduled'}, {queue, 'queued'}}) do
  local zset, state = pair[1], pair[2]
  while true do
    local batch = redis.call('ZRANGE', zset, 0, BATCH - 1)
    if #batch == 0 then break end
    for _, m in ipairs(batch) do
      redis.call('ZREM', zset, m)
      local key = member_key(m)
      -- An unreadable record (not a hash) cannot be ended; its work goes
      -- from the queue all the same, as clearing asks.
      local current = read_fields(runs .. key, 'state', 'generation') or {}
      if current[1] == state and is_member_of(m, current, key) then
        cancel(key, current[2])
      end
    end
  end
end

-- Queued work already moved into the stream but not yet read by a worker.
local start = '-'
while true do
  local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', BATCH)
  for _, e in ipairs(batch) do
    local entry = fields_map(e[2])
    if entry['key'] and entry['generation'] then
      local current = read_fields(runs .. entry['key'], 'state', 'generation', 'message_id') or {}
      if current[1] == 'queued' and current[2] == entry['generation'] and current[3] == e[1] then
        redis.call('XDEL', stream, e[1])
        cancel(entry['key'], current[2])
      end
    end
  end
  if #batch < BATCH then break end
  start = '(' .. batch[#batch][1]
end
return cancelled
