-- Helpers shared by every docket script.  The loader (script_text.py)
-- prepends to each script body the helpers of this file it names, each with
-- the comment lines directly above it, so everything here is local to one
-- script invocation, and a helper's notes travel with it.
--
-- Conventions kept by every script:
--   * Timestamps are integer milliseconds, passed in ARGV as decimal strings
--     from the caller's clock and stored exactly as given.  Lua formats numbers
--     with %.14g, which would round late dates, so a script never turns a
--     computed number back into a timestamp string; it only compares them.
--   * Redis TIME, stream-ID times and TTLs never decide anything.  PEXPIRE is
--     garbage collection only; the gc delay is computed by the caller.
--   * Record keys discovered at run time (from a sorted-set member or a stream
--     entry) are built from the runs prefix passed in ARGV.  They cannot be
--     declared in KEYS before the script reads them, and they share the
--     docket's {hash tag}, so they sit on the same cluster slot.

local unpack = unpack or table.unpack

local LIVE = {scheduled = true, queued = true, running = true}

-- Sorted sets order equal scores by member, so members lead with the
-- zero-padded generation: work due at the same millisecond then comes out in
-- the order it was (re)scheduled.
local function member(generation, key)
  return string.format('%020d', tonumber(generation)) .. ':' .. key
end

local function member_key(m)
  return string.sub(m, 22)
end

-- The generation of sorted-set member `m`, as a decimal string.
local function member_generation(m)
  return string.match(string.sub(m, 1, 20), '^0*(%d+)$')
end

-- HMGET of a record, or nil and the error when the key holds something other
-- than a hash (written over by something other than docket): such a record is
-- handed to a worker to set aside, instead of failing every script that meets it.
local function read_fields(record, ...)
  local reply = redis.pcall('HMGET', record, ...)
  if type(reply) == 'table' and reply.err then return nil, tostring(reply.err) end
  return reply
end

-- True when sorted-set member `m` is the current work of `record`'s generation.
local function is_member_of(m, current, key)
  return current[2] and tonumber(current[2]) and member(current[2], key) == m
end

local function next_generation(counter)
  return string.format('%d', redis.call('INCR', counter))
end

local function fields_map(flat)
  local map = {}
  if type(flat) ~= 'table' then return map end
  for i = 1, #flat - 1, 2 do map[flat[i]] = flat[i + 1] end
  return map
end

-- One field's value in `flat` (an HGETALL reply), or nil: for a field or two,
-- cheaper than fields_map, which grows a table field by field.
local function field_of(flat, name)
  for i = 1, #flat - 1, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
  return nil
end

-- Events are encoded with cjson, never by concatenation; the generation is a
-- string so large values cannot be rounded by cjson's number formatting.
local function publish(events, key, state, generation, worker, err)
  local event = {key = key, state = state, generation = generation}
  if worker then event.worker = worker end
  if err then event.error = err end
  redis.call('PUBLISH', events .. key, cjson.encode(event))
end

-- A tiny capped stream whose only job is to wake blocked readers in other
-- processes (XREAD BLOCK); its entries carry nothing.
local function wake(wakes)
  redis.call('XADD', wakes, 'MAXLEN', '~', 100, '*', 'wake', '1')
end

-- Put new work where it waits: the queue when due, else the future set.
-- Returns the record's state and whether waiting workers were woken: when the
-- queue goes from empty to non-empty (a worker only waits after a claim left
-- the queue empty), or when the work becomes the earliest future work (a
-- waiting worker's next wake-up may now be too late).
local function place(queue, future, wakes, key, generation, when, now)
  local m = member(generation, key)
  if tonumber(when) <= tonumber(now) then
    local was_empty = redis.call('ZCARD', queue) == 0
    redis.call('ZADD', queue, when, m)
    if was_empty then wake(wakes) end
    return 'queued', was_empty
  end
  redis.call('ZADD', future, when, m)
  local first = redis.call('ZRANGE', future, 0, 0)[1] == m
  if first then wake(wakes) end
  return 'scheduled', first
end

-- Take back the waiting work of a record; `current` is HMGET state,
-- generation, message_id.  Running work is left to its lease.
local function withdraw(queue, future, stream, key, current)
  if not (current[2] and tonumber(current[2])) then return end
  if current[1] == 'scheduled' then
    redis.call('ZREM', future, member(current[2], key))
  elseif current[1] == 'queued' then
    redis.call('ZREM', queue, member(current[2], key))
    if current[3] then redis.call('XDEL', stream, current[3]) end
  end
end

-- Store a record's new generation.  `absent` says no hash is there to delete.
local function store(record, key, fn, payload, when, attempt, headers, generation, state, absent)
  if not absent then redis.call('DEL', record) end
  redis.call('HSET', record, 'key', key, 'function', fn, 'payload', payload, 'when', when,
    'attempt', attempt, 'headers', headers, 'generation', generation, 'state', state)
end

-- End a record.  gc_ms '0' means its ttl was zero: forget it at once.
-- started_at, when given, replaces the time the claim recorded.  `settled`
-- says the record is the running generation its worker settles: that one
-- holds no result or error to clear (store() starts every generation from an
-- empty hash and only finish() writes them), and its message_id is only ever
-- read while the record is live, so one HDEL per run is spared.
local function finish(record, state, completed_at, expires_at, gc_ms, result, err, started_at,
                      settled)
  if gc_ms == '0' then
    redis.call('DEL', record)
    return
  end
  if not settled then redis.call('HDEL', record, 'message_id', 'result', 'error') end
  local f = {'state', state, 'completed_at', completed_at, 'expires_at', expires_at}
  if result then f[#f + 1] = 'result'; f[#f + 1] = result end
  if err then f[#f + 1] = 'error'; f[#f + 1] = err end
  if started_at then f[#f + 1] = 'started_at'; f[#f + 1] = started_at end
  redis.call('HSET', record, unpack(f))
  redis.call('PEXPIRE', record, gc_ms)
end

-- Acknowledge and forget one delivery, and drop its lease.
local function drop(stream, group, leases, holders, id)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  redis.call('ZREM', leases, id)
  redis.call('HDEL', holders, id)
end

-- Calls `command` with `prefix` and then the values of `list`, in chunks:
-- one call per chunk instead of one per value, and no chunk big enough to
-- overflow Lua's stack in unpack.
local CHUNK = 500
local function call_chunked(list, command, ...)
  local prefix = {...}
  for first = 1, #list, CHUNK do
    local args = {unpack(prefix)}
    for i = first, math.min(#list, first + CHUNK - 1) do args[#args + 1] = list[i] end
    redis.call(command, unpack(args))
  end
end

-- drop() for many deliveries: four calls per chunk, not four per delivery.
local function drop_all(stream, group, leases, holders, ids)
  call_chunked(ids, 'XACK', stream, group)
  call_chunked(ids, 'XDEL', stream)
  call_chunked(ids, 'ZREM', leases)
  call_chunked(ids, 'HDEL', holders)
end

-- The entries of an XREADGROUP reply: real Redis nests them as
-- {{stream, entries}}, fakeredis as {stream, entries}; nothing is false or {}.
local function stream_entries(reply)
  if type(reply) ~= 'table' or #reply == 0 then return {} end
  if type(reply[1]) == 'table' then return reply[1][2] or {} end
  return reply[2] or {}
end

local function last_id(stream)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if last[1] then return last[1][1] end
  return '0-0'
end
