-- debounce: decide whether a holder's run goes through a debounce gate.
-- KEYS: gate (hash: winner, last_seen ms)
-- ARGV: holder, now ms, quiet cutoff ms (now - settle), stale cutoff ms
--       (now - settle * DEBOUNCE_MEMORY), gc ms
-- Returns {'run'}, {'wait', last_seen ms} (the caller adds settle), or {'drop'}.
local gate, holder, now = KEYS[1], ARGV[1], ARGV[2]
local held = redis.call('HMGET', gate, 'winner', 'last_seen')
local winner, last_seen = held[1], held[2]
if winner == holder then
  if tonumber(last_seen) <= tonumber(ARGV[3]) then
    redis.call('DEL', gate)
    return {'run'}
  end
  return {'wait', last_seen}
end
if winner and tonumber(last_seen) > tonumber(ARGV[4]) then
  redis.call('HSET', gate, 'last_seen', now)
  redis.call('PEXPIRE', gate, ARGV[5])
  return {'drop'}
end
redis.call('HSET', gate, 'winner', holder, 'last_seen', now)
redis.call('PEXPIRE', gate, ARGV[5])
return {'wait', now}
