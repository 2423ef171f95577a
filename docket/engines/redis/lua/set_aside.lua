-- set_aside: acknowledge a delivery that cannot run, keep it as a dead letter,
-- and fail its record when that is still the delivery's execution.
-- KEYS: stream, leases, holders, dead[, record named by the caller]
-- ARGV: group, runs, events, delivery, reason, now, expires_at, gc_ms,
--       key ('' when unknown), generation ('' when unknown), dead_maxlen
local stream, leases, holders, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, runs, events, delivery, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, expires_at, gc_ms = ARGV[6], ARGV[7], ARGV[8]
local key, generation = ARGV[9], ARGV[10]

local found = redis.call('XRANGE', stream, delivery, delivery)
local fields = {}
if found[1] and type(found[1][2]) == 'table' then fields = found[1][2] end
local entry = fields_map(fields)

local record = nil
if key ~= '' then
  record = KEYS[5]
elseif entry['key'] and entry['generation'] then
  -- The caller could not read the record (it was unreadable), but the stream
  -- entry names it: fail it, or its key would stay live with no lease.
  key, generation = entry['key'], entry['generation']
  record = runs .. key
end

local holder = redis.call('HGET', holders, delivery)
local fn = ''
if record then
  -- An unreadable record (not a hash) cannot be failed; the letter still is kept.
  local current = read_fields(record, 'state', 'generation', 'function', 'worker') or {}
  if generation ~= '' and current[2] == generation then
    fn = current[3] or ''
    if LIVE[current[1]] then
      finish(record, 'failed', now, expires_at, gc_ms, nil, reason)
      publish(events, key, 'failed', generation, current[4], reason)
    end
  end
end
drop(stream, group, leases, holders, delivery)

local letter = {'XADD', dead, 'MAXLEN', '~', ARGV[11], '*',
  'reason', reason, 'set_aside_at', now, 'key', key ~= '' and key or (entry['key'] or ''),
  'function', fn, 'delivery', delivery}
if holder then
  letter[#letter + 1] = 'worker'
  letter[#letter + 1] = holder
end
for i = 1, #fields - 1, 2 do
  letter[#letter + 1] = 'field:' .. fields[i]
  letter[#letter + 1] = fields[i + 1]
end
redis.call(unpack(letter))
return 1
