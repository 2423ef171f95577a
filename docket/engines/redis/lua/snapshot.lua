-- snapshot (read only): up to `limit` future, queued and running records, and
-- the workers, read at one moment.
-- KEYS: future, queue, leases, stream, workers
-- ARGV: runs, limit
local future, queue, leases, stream, workers = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local runs, limit = ARGV[1], tonumber(ARGV[2])

local function records_in(zset, state)
  local out = {}
  if limit <= 0 then return out end
  for _, m in ipairs(redis.call('ZRANGE', zset, 0, limit - 1)) do
    local key = member_key(m)
    -- An unreadable record (not a hash) is left out.
    local current = read_fields(runs .. key, 'state', 'generation') or {}
    if current[1] == state and is_member_of(m, current, key) then
      out[#out + 1] = redis.call('HGETALL', runs .. key)
    end
  end
  return out
end

local running = {}
if limit > 0 then
  for _, id in ipairs(redis.call('ZRANGE', leases, 0, limit - 1)) do
    local found = redis.call('XRANGE', stream, id, id)
    local entry = found[1] and fields_map(found[1][2]) or {}
    if entry['key'] and entry['generation'] then
      local record = runs .. entry['key']
      local current = read_fields(record, 'state', 'generation') or {}
      if current[1] == 'running' and current[2] == entry['generation'] then
        running[#running + 1] = redis.call('HGETALL', record)
      end
    end
  end
end
return {records_in(future, 'scheduled'), records_in(queue, 'queued'), running,
  redis.call('HGETALL', workers)}
