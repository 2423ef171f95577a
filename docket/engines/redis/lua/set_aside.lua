-- set_aside: acknowledge a delivery that cannot run, keep its whole message as
-- a dead letter, and fail its record when that is still the delivery's execution.
-- KEYS: stream, leases, holders, dead[, record named by the caller]
-- ARGV: group, runs, events, delivery, reason, now, expires_at, gc_ms,
--       key ('' when unknown), generation ('' when unknown), dead_maxlen,
--       letter_expires_at, retention_ms, dead_gc_ms
local stream, leases, holders, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, runs, events, delivery, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, expires_at, gc_ms = ARGV[6], ARGV[7], ARGV[8]
local key, generation = ARGV[9], ARGV[10]
local letter_expires_at, retention_ms, dead_gc_ms = ARGV[12], ARGV[13], ARGV[14]

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
-- The execution's message, copied whole so the letter outlives its record.
local message = {}
if record then
  -- An unreadable record (not a hash) cannot be failed; the letter still is kept.
  local current = read_fields(record, 'state', 'generation', 'worker',
    'function', 'payload', 'when', 'attempt', 'headers') or {}
  if generation ~= '' and current[2] == generation then
    for i, name in ipairs({'function', 'payload', 'when', 'attempt', 'headers'}) do
      if current[i + 3] then
        message[#message + 1] = name
        message[#message + 1] = current[i + 3]
      end
    end
    if LIVE[current[1]] then
      finish(record, 'failed', now, expires_at, gc_ms, nil, reason)
      publish(events, key, 'failed', generation, current[3], reason)
    end
  end
end
drop(stream, group, leases, holders, delivery)

-- Drop expired letters, oldest first, up to the first one still kept.  A
-- letter from before letters expired carries no expires_at: it is kept for
-- this caller's retention after it was set aside.
local cutoff = tonumber(now)
for _, old in ipairs(redis.call('XRANGE', dead, '-', '+', 'COUNT', 100)) do
  local kept = fields_map(old[2])
  local ends = tonumber(kept['expires_at'] or '')
  if not ends and tonumber(kept['set_aside_at'] or '') then
    ends = tonumber(kept['set_aside_at']) + tonumber(retention_ms)
  end
  if ends and ends > cutoff then break end
  redis.call('XDEL', dead, old[1])
end

local letter = {'XADD', dead, 'MAXLEN', '~', ARGV[11], '*',
  'reason', reason, 'set_aside_at', now, 'expires_at', letter_expires_at,
  'key', key ~= '' and key or (entry['key'] or ''), 'delivery', delivery}
if holder then
  letter[#letter + 1] = 'worker'
  letter[#letter + 1] = holder
end
for i = 1, #message do letter[#letter + 1] = message[i] end
for i = 1, #fields - 1, 2 do
  letter[#letter + 1] = 'field:' .. fields[i]
  letter[#letter + 1] = fields[i + 1]
end
redis.call(unpack(letter))
-- Garbage collection only (see common.lua): the stream outlives its newest letter.
if redis.call('PTTL', dead) < tonumber(dead_gc_ms) then
  redis.call('PEXPIRE', dead, dead_gc_ms)
end
return 1
