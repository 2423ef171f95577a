-- schedule: store new work under a key, unless a live record holds it.
-- KEYS: record, queue, future, stream, generation, wake
-- ARGV: key, function, payload, when, attempt, headers, now, replace ('1'/'0'), events
local record = KEYS[1]
local key = ARGV[1]
local current = redis.call('HMGET', record, 'state', 'generation', 'message_id')
if LIVE[current[1]] then
  if ARGV[8] ~= '1' then
    return {'exists', redis.call('HGETALL', record)}
  end
  -- Replace: the waiting work goes; a running execution keeps its lease, and
  -- its settlement goes stale with the generation below.
  withdraw(KEYS[2], KEYS[3], KEYS[4], key, current)
end
local generation = next_generation(KEYS[5])
local state, woke = place(KEYS[2], KEYS[3], KEYS[6], key, generation, ARGV[4], ARGV[7])
store(record, key, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], generation, state)
publish(ARGV[9], key, state, generation)
return {'scheduled', generation, state, woke and 1 or 0}
