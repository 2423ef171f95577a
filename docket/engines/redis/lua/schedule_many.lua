-- schedule_many: schedule_one (see scheduling.lua) for each message in order,
-- in one call: a batch pays for one script call, not one per message.
-- KEYS: queue, future, stream, generation, wake, then one record per message
-- ARGV: now, replace ('1'/'0'), events, then 6 values per message: key,
--       function, payload, when, attempt, headers
-- Returns one schedule_one reply per message.
local now, replace, events = ARGV[1], ARGV[2], ARGV[3]
local replies = {}
for i = 1, #KEYS - 5 do
  local a = 3 + (i - 1) * 6
  replies[i] = schedule_one(KEYS[5 + i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
    ARGV[a + 5], ARGV[a + 6], now, replace, events, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
end
return replies
