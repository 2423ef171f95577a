-- progress: change the progress of a RUNNING execution and publish it.
-- KEYS: record
-- ARGV: key, generation, total ('' keeps it), increment, has_message ('1'/'0'),
--       message, events
-- Returns {current, total or nil, message or nil}, or nil when the key is not
-- running at that generation.
local record = KEYS[1]
local key, generation = ARGV[1], ARGV[2]
local current = redis.call('HMGET', record, 'state', 'generation')
if current[1] ~= 'running' or current[2] ~= generation then
  return false
end
local value = string.format('%d', redis.call('HINCRBY', record, 'progress_current', ARGV[4]))
if ARGV[3] ~= '' then redis.call('HSET', record, 'progress_total', ARGV[3]) end
if ARGV[5] == '1' then redis.call('HSET', record, 'progress_message', ARGV[6]) end
local now = redis.call('HMGET', record, 'progress_total', 'progress_message')
-- Numbers travel as strings, which cjson cannot round.
local event = {kind = 'progress', key = key, generation = generation, current = value}
if now[1] then event.total = now[1] end
if now[2] then event.message = now[2] end
redis.call('PUBLISH', ARGV[7] .. key, cjson.encode(event))
return {value, now[1], now[2]}
