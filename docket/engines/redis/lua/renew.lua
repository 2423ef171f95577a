-- renew: extend a worker's leases; return the deliveries it no longer holds.
-- KEYS: leases, holders
-- ARGV: worker, lease_until, delivery...
local leases, holders = KEYS[1], KEYS[2]
local worker, lease_until = ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', holders, id) == worker and redis.call('ZSCORE', leases, id) then
    redis.call('ZADD', leases, 'XX', lease_until, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
