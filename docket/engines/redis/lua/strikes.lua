-- update_strikes: set (or, without a rule, remove) one strike rule and tell
-- every watcher.
-- KEYS: strikes
-- ARGV: rule id, has rule ('1'/'0'), rule, channel
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
