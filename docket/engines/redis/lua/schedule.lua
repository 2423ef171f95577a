-- schedule: store new work under a key, unless a live record holds it.  One
-- message stores exactly what schedule_many.lua (scheduling.lua) stores for a
-- batch of one, and replies alike: the integer generation * 4 + 2 if its
-- state is 'scheduled' (0 if 'queued') + 1 if it woke waiting workers; else
-- {'exists', record fields}, or {'error', why} when the record key holds
-- something other than a hash.  It is built on common.lua's helpers alone,
-- without the batch's bookkeeping, because a single add is the commonest call
-- of all and a script pays for every function it defines on every call.
-- KEYS: record, queue, future, stream, generation, wake
-- ARGV: key, function, payload, when, attempt, headers, now, replace ('1'/'0'), events
local record, queue, future, key, when = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[4]
local flat = redis.pcall('HGETALL', record)
if flat.err then return {'error', tostring(flat.err)} end
local exists = #flat > 0
local current = nil
if exists then
  local state = field_of(flat, 'state')
  if LIVE[state] then
    if ARGV[8] ~= '1' then return {'exists', flat} end
    current = {state, field_of(flat, 'generation'), field_of(flat, 'message_id')}
  end
end
-- The first write: a demoted master's READONLY (or OOM) comes back as it is,
-- as an error reply, before anything was changed.
local counted = redis.pcall('INCR', KEYS[5])
if type(counted) == 'table' then return counted end
-- Replace: the waiting work goes; a running execution keeps its lease, and its
-- settlement goes stale with the new generation.
if current then withdraw(queue, future, KEYS[4], key, current) end
local generation = string.format('%d', counted)
local state, woke = place(queue, future, KEYS[6], key, generation, when, ARGV[7])
store(record, key, ARGV[2], ARGV[3], when, ARGV[5], ARGV[6], generation, state, not exists)
publish(ARGV[9], key, state, generation)
-- One integer: Lua numbers are doubles, exact far past any generation.
return counted * 4 + (state == 'scheduled' and 2 or 0) + (woke and 1 or 0)
