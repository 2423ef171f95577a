-- retire: forget a worker at once, and its consumer if it owns no delivery.
-- KEYS: workers, seen, stream
-- ARGV: worker, group
local workers, seen, stream = KEYS[1], KEYS[2], KEYS[3]
local worker, group = ARGV[1], ARGV[2]
redis.call('HDEL', workers, worker)
redis.call('ZREM', seen, worker)
local pending = redis.pcall('XPENDING', stream, group, '-', '+', 1, worker)
if type(pending) == 'table' and not pending.err and #pending == 0 then
  redis.call('XGROUP', 'DELCONSUMER', stream, group, worker)
end
return 1
