-- admit: let a holder through a sliding-window gate (Cooldown, RateLimit).
-- KEYS: gate (zset: holder -> ms it was let through)
-- ARGV: holder, now ms, cutoff ms (now - window: holders let through at or
--       before it no longer count), limit, gc ms
-- Returns '' when the holder is let through, else the score (ms) of the
-- earliest holder still counted; the caller adds the window.
local gate, holder = KEYS[1], ARGV[1]
redis.call('ZREMRANGEBYSCORE', gate, '-inf', ARGV[3])
if redis.call('ZSCORE', gate, holder) then
  -- Already counted: a redelivered run, let through without counting twice.
  return ''
end
if redis.call('ZCARD', gate) < tonumber(ARGV[4]) then
  redis.call('ZADD', gate, ARGV[2], holder)
  redis.call('PEXPIRE', gate, ARGV[5])
  return ''
end
return redis.call('ZRANGE', gate, 0, 0, 'WITHSCORES')[2]
