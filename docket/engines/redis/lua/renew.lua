-- renew: extend a worker's leases; return the deliveries it no longer holds.
-- KEYS: leases, holders, stream
-- ARGV: worker, lease_until, runs, delivery...
-- A delivery whose execution ended while it ran (cancel) is no longer held
-- either, and its lease is left to expire; one whose key was since replaced
-- (another generation) is still held, as its run goes on.
local leases, holders, stream = KEYS[1], KEYS[2], KEYS[3]
local worker, lease_until, runs = ARGV[1], ARGV[2], ARGV[3]

local function ended(id)
  local found = redis.call('XRANGE', stream, id, id)[1]
  local entry = fields_map(found and found[2])
  local key, generation = entry['key'], entry['generation']
  if not (key and generation) then return false end
  -- An unreadable record (not a hash) is for the worker to set aside, not to end here.
  local current = read_fields(runs .. key, 'state', 'generation')
  if current == nil then return false end
  if not current[2] then return true end
  return current[2] == generation and current[1] ~= 'running'
end

local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', holders, id) == worker and redis.call('ZSCORE', leases, id)
      and not ended(id) then
    redis.call('ZADD', leases, 'XX', lease_until, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
