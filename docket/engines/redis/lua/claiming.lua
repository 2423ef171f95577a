-- claim_batch: promote due work, reclaim expired leases, then hand out queued
-- work.  Shared by claim.lua and settle_and_claim.lua.
-- Returns {claims, wake cursor, queued left, first future score, first lease
-- score, woke}; each claim is {delivery, 'ok'|'bad'|'unreadable'|'orphan',
-- redelivered, entry fields, record fields[, error]}, where error says why an
-- unreadable record could not be read, or, for work moved from the queue and
-- read by this claim (the common case), {delivery, 'fresh', field, value,
-- ...}: the record as read before the claim marked it running.  A reclaimed
-- record is marked 'suspected': its worker may have died running it, and its
-- runs from now on run alone.
-- Work whose record is gone (evicted, deleted behind docket's back) or in a
-- state docket does not know is delivered all the same, as 'orphan' or
-- 'unreadable', so that a worker sets it aside rather than it vanishing.

local KNOWN_STATES = {scheduled = true, queued = true, running = true,
                      completed = true, failed = true, cancelled = true}

-- True when an HMGET of 'state', 'generation' found neither: no record.
local function gone(current)
  return not current[1] and not current[2]
end

-- `flat` (an HGETALL reply) with the fields in `changes` set to new values.
local function with_fields(flat, changes)
  local seen = {}
  for i = 1, #flat - 1, 2 do
    local value = changes[flat[i]]
    if value then
      flat[i + 1] = value
      seen[flat[i]] = true
    end
  end
  for name, value in pairs(changes) do
    if not seen[name] then
      flat[#flat + 1] = name
      flat[#flat + 1] = value
    end
  end
  return flat
end

-- HSET the fields in `changes` on `record`.
local function set_fields(record, changes)
  local args = {}
  for name, value in pairs(changes) do
    args[#args + 1] = name
    args[#args + 1] = value
  end
  redis.call('HSET', record, unpack(args))
end

local function claim_batch(stream, queue, future, leases, holders, wakes, group, worker, count,
                           now, lease_until, promote_limit, runs, events)
  -- 1. Promote at most promote_limit due future records, in (when,
  -- generation) order; the queue keeps that order.
  local promoted = 0
  local due = redis.call('ZRANGEBYSCORE', future, '-inf', now, 'WITHSCORES', 'LIMIT', 0, promote_limit)
  for i = 1, #due, 2 do
    local m = due[i]
    redis.call('ZREM', future, m)
    local key = member_key(m)
    local record = runs .. key
    local current = read_fields(record, 'state', 'generation')
    if current == nil or gone(current) or not KNOWN_STATES[current[1]] then
      -- Unreadable, gone or strange: on to the queue, so that a worker sets it aside.
      redis.call('ZADD', queue, due[i + 1], m)
      promoted = promoted + 1
    elseif current[1] == 'scheduled' and is_member_of(m, current, key) then
      redis.call('HSET', record, 'state', 'queued')
      redis.call('ZADD', queue, due[i + 1], m)
      publish(events, key, 'queued', current[2])
      promoted = promoted + 1
    end
  end

  local claims = {}

  -- Each entry is leased before it is handed out, so that should the script
  -- fail part way, what it handed out can be reclaimed.  A fresh read leases
  -- all its entries in two calls (lease_all) before any is handed out.
  local function lease(id)
    redis.call('ZADD', leases, lease_until, id)
    redis.call('HSET', holders, id, worker)
  end

  local function lease_all(ids)
    local scored, held = {}, {}
    for _, id in ipairs(ids) do
      scored[#scored + 1] = lease_until
      scored[#scored + 1] = id
      held[#held + 1] = id
      held[#held + 1] = worker
    end
    call_chunked(scored, 'ZADD', leases)
    call_chunked(held, 'HSET', holders)
  end

  local function leased_already() end

  -- `leased` says lease_all already leased `id`.
  local function hand_out(id, fields, redelivered, leased)
    local lease = leased and leased_already or lease
    local entry = fields_map(fields)
    local key, generation = entry['key'], entry['generation']
    if not key or not generation then
      -- Malformed (not written by docket): lease it so it cannot be lost, and
      -- let the worker set it aside.
      lease(id)
      claims[#claims + 1] = {id, 'bad', redelivered, fields, {}}
      return
    end
    local record = runs .. key
    local stored = redis.pcall('HGETALL', record)
    if stored.err then
      -- Not a hash: the worker sets it aside, with the reason.
      lease(id)
      claims[#claims + 1] = {id, 'unreadable', redelivered, fields, {},
        'it is not a hash (' .. tostring(stored.err) .. ')'}
      return
    end
    local current = fields_map(stored)
    if #stored == 0 and redelivered == 0 then
      -- Queued work whose record is gone.  (A redelivery's record may have
      -- ended and expired meanwhile: that one is only forgotten, below.)
      lease(id)
      claims[#claims + 1] = {id, 'orphan', redelivered, fields, {}}
      return
    end
    if current['generation'] == generation and not KNOWN_STATES[current['state']] then
      lease(id)
      claims[#claims + 1] = {id, 'unreadable', redelivered, fields, {},
        'unknown state ' .. tostring(current['state'])}
      return
    end
    if current['generation'] ~= generation then
      drop(stream, group, leases, holders, id)
      return
    end
    local changes
    if redelivered == 1 then
      if current['state'] ~= 'running' then
        drop(stream, group, leases, holders, id)
        return
      end
      changes = {worker = worker, suspected = '1'}
    elseif current['state'] == 'queued' then
      changes = {state = 'running', worker = worker, started_at = now}
    elseif current['state'] == 'running' and redis.call('HEXISTS', holders, id) == 1 then
      -- Delivered again because the group was recreated from its history: the
      -- lease holder still owns it and its settlement acknowledges it.
      return
    else
      drop(stream, group, leases, holders, id)
      return
    end
    set_fields(record, changes)
    lease(id)
    publish(events, key, 'running', generation, worker)
    claims[#claims + 1] = {id, 'ok', redelivered, fields, with_fields(stored, changes)}
  end

  -- 2. Reclaim deliveries whose lease expired by now.
  if count > 0 then
    local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, count)
    for _, id in ipairs(expired) do
      local got = redis.pcall('XCLAIM', stream, group, worker, 0, id)
      local entry = nil
      if type(got) == 'table' and not got.err then entry = got[1] end
      if type(entry) == 'table' and type(entry[2]) == 'table' then
        hand_out(id, entry[2], 1)
      else
        -- Gone from the stream or the group: nothing left to redeliver.
        drop(stream, group, leases, holders, id)
      end
    end
  end

  -- 3. Move the first queued records, in due order, into the stream and read
  -- them through the consumer group (which tracks them until acknowledged).
  -- A record read here is kept, so that its hand-out need not read it again.
  local take = count - #claims
  if take > 0 then
    local popped = redis.call('ZPOPMIN', queue, take)
    local fresh = {}
    for i = 1, #popped, 2 do
      local m = popped[i]
      local key = member_key(m)
      local record = runs .. key
      local stored = redis.pcall('HGETALL', record)
      local state, generation = nil, nil
      if not stored.err then
        state, generation = field_of(stored, 'state'), field_of(stored, 'generation')
      end
      if not KNOWN_STATES[state] then
        -- Unreadable, gone or strange: delivered all the same, so that a
        -- worker sets it aside.
        redis.call('XADD', stream, '*', 'key', key, 'generation', member_generation(m))
      elseif state == 'queued' and is_member_of(m, {state, generation}, key) then
        local id = redis.call('XADD', stream, '*', 'key', key, 'generation', generation)
        fresh[id] = {record = record, stored = stored, key = key, generation = generation}
      end
    end
    local reply = redis.pcall('XREADGROUP', 'GROUP', group, worker, 'COUNT', take, 'STREAMS', stream, '>')
    if type(reply) == 'table' and reply.err then
      -- tostring: fakeredis hands the message over as userdata.
      local err = tostring(reply.err)
      if not string.find(err, 'NOGROUP', 1, true) then
        return redis.error_reply(err)
      end
      -- The stream or its group was deleted behind our back: recreate the
      -- group from the start of the stream, so nothing in it is skipped.
      redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
      reply = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', take, 'STREAMS', stream, '>')
    end
    local entries, ids = {}, {}
    for _, entry in ipairs(stream_entries(reply)) do
      if type(entry[2]) == 'table' then
        entries[#entries + 1] = entry
        ids[#ids + 1] = entry[1]
      end
    end
    lease_all(ids)
    for _, entry in ipairs(entries) do
      local id = entry[1]
      local mine = fresh[id]
      if mine then
        -- Moved from the queue just above: its record was read then.  The
        -- worker knows the fields this claim changes (state, worker,
        -- started_at); the reply carries the record as it was read, in the
        -- claim's own table: nested tables cost Redis more to reply.
        fresh[id] = nil
        redis.call('HSET', mine.record, 'state', 'running', 'worker', worker, 'started_at', now,
          'message_id', id)
        publish(events, mine.key, 'running', mine.generation, worker)
        claims[#claims + 1] = {id, 'fresh', unpack(mine.stored)}
      else
        hand_out(id, entry[2], 0, true)
      end
    end
    -- Moved but not read (older unread entries came first): a cancel
    -- withdraws queued work by this id.
    for id, mine in pairs(fresh) do
      redis.call('HSET', mine.record, 'message_id', id)
    end
  end

  local left = redis.call('ZCARD', queue)
  -- Promoted work that this claim did not take may be someone else's to run.
  local woke = promoted > 0 and left > 0
  if woke then wake(wakes) end
  local first_future = redis.call('ZRANGE', future, 0, 0, 'WITHSCORES')[2] or ''
  local first_lease = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')[2] or ''
  return {claims, last_id(wakes), left, first_future, first_lease, woke and 1 or 0}
end
