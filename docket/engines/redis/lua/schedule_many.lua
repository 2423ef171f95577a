-- schedule_many: schedule each message in order (see scheduling.lua), in one
-- call: a batch pays for one script call, not one per message.
-- KEYS: queue, future, stream, generation, wake, then one record per message
-- ARGV: now, replace ('1'/'0'), events, then 6 values per message: key,
--       function, payload, when, attempt, headers
-- Returns one reply per message.
return schedule_all(#KEYS - 5, KEYS, 6, ARGV, 4, ARGV[1], ARGV[2], ARGV[3], KEYS[1], KEYS[2],
  KEYS[3], KEYS[4], KEYS[5])
