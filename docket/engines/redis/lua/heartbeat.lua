-- heartbeat: note a worker alive, forget silent ones and their idle consumers.
-- KEYS: workers (hash name -> info JSON), seen (zset name -> last seen ms), stream
-- ARGV: worker, now, info, cutoff (forget workers last seen before it), group
local workers, seen, stream = KEYS[1], KEYS[2], KEYS[3]
local group = ARGV[5]
redis.call('HSET', workers, ARGV[1], ARGV[3])
redis.call('ZADD', seen, ARGV[2], ARGV[1])
for _, name in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. ARGV[4])) do
  redis.call('ZREM', seen, name)
  redis.call('HDEL', workers, name)
end
-- Consumers of the group otherwise pile up with every worker ever started.
-- Only those owning no pending delivery go: deleting a consumer discards its
-- pending entries, and those must stay reclaimable.
local consumers = redis.pcall('XINFO', 'CONSUMERS', stream, group)
if type(consumers) == 'table' and not consumers.err then
  for _, consumer in ipairs(consumers) do
    local info = fields_map(consumer)
    if tonumber(info['pending']) == 0 and not redis.call('ZSCORE', seen, info['name']) then
      redis.call('XGROUP', 'DELCONSUMER', stream, group, info['name'])
    end
  end
end
return 1
