-- schedule: store new work under a key, unless a live record holds it (see
-- scheduling.lua).
-- KEYS: record, queue, future, stream, generation, wake
-- ARGV: key, function, payload, when, attempt, headers, now, replace ('1'/'0'), events
local replies = schedule_all(1, KEYS, 1, ARGV, 1, ARGV[7], ARGV[8], ARGV[9], KEYS[2], KEYS[3],
  KEYS[4], KEYS[5], KEYS[6])
if replies.err then return replies end
return replies[1]
