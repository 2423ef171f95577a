-- schedule_all: store each message's new work under its key, in order, unless
-- a live record holds it: schedule_many.lua's batch.  (schedule.lua, for one
-- message, stores and replies exactly as a batch of one does, on common.lua's
-- helpers alone.)  Each message is handled as if alone; what the
-- whole batch shares is read once and carried from one message to the next,
-- so a batch stores exactly what one schedule.lua call per message would:
--   * one HGETALL per record (not HMGET, then HGETALL for an 'exists' reply):
--     an empty reply means no hash is there, so there is nothing to DEL;
--   * one INCR of the generation counter per call; later messages count on
--     from it, and the counter is SET to the last generation handed out;
--   * one ZCARD of the queue and one ZRANGE of the future set's first member
--     per call (again after a replace took work out of them), and one ZADD
--     per set of all the work placed in it, sent before the set is read
--     again and at the end.
-- The `count` messages' record keys are `records` from index `rfirst`, and
-- `messages` holds 6 values per message from index `first`: key, function,
-- payload, when, attempt, headers.
-- Returns per message, when it was scheduled, the integer generation * 4 +
-- 2 if its state is 'scheduled' (0 if 'queued') + 1 if it woke waiting
-- workers: one integer is cheaper to build and to read than a list.  Else
-- {'exists', record fields} or, when the record key holds something other
-- than a hash (written over by something other than docket), {'error', why}:
-- that key alone is refused, before anything is written for it.  When a
-- command fails (READONLY, say), the error reply {err = why} in place of
-- the list.
local function schedule_all(count, records, rfirst, messages, first, now, replace, events, queue,
                            future, stream, counter, wakes)
  local replies = {}
  local now_ms = tonumber(now)
  local last_generation, counted_on = nil, false
  -- ZADD arguments (score, member) of the work placed but not yet added, per set.
  local placed = {[queue] = {}, [future] = {}}
  -- While known: the queue's size, and the future set's first work as
  -- {score, generation} (false when it is empty), counting the work placed.
  local queue_size, future_first = nil, nil

  local function add_placed()
    for set, values in pairs(placed) do
      if #values > 0 then
        call_chunked(values, 'ZADD', set)
        placed[set] = {}
      end
    end
  end

  local function forget_sets()
    add_placed()
    queue_size, future_first = nil, nil
  end

  -- Whether work at score `when` of generation `generation` comes first in
  -- the future set, which sorts equal scores by member: the zero-padded
  -- generation, then the key.  Nil when that cannot be told without asking.
  local function first_in_future(when, generation)
    if future_first == nil then
      local head = redis.call('ZRANGE', future, 0, 0, 'WITHSCORES')
      if head[1] == nil then
        future_first = false
      else
        local score, head_generation = tonumber(head[2]), tonumber(member_generation(head[1]) or '')
        if score == nil or head_generation == nil then return nil end
        future_first = {score, head_generation}
      end
    end
    if future_first == false or when < future_first[1] then return true end
    if when > future_first[1] or generation > future_first[2] then return false end
    if generation == future_first[2] then return nil end -- the keys decide
    return true
  end

  local function place_future(when, generation, m)
    local first = first_in_future(tonumber(when), tonumber(generation))
    if first == nil then
      -- As place() does: add it, then ask.
      forget_sets()
      redis.call('ZADD', future, when, m)
      return redis.call('ZRANGE', future, 0, 0)[1] == m
    end
    local values = placed[future]
    values[#values + 1] = when
    values[#values + 1] = m
    if first then future_first = {tonumber(when), tonumber(generation)} end
    return first
  end

  local function schedule_one(record, a)
    local key, when = messages[a + 1], messages[a + 4]
    local flat = redis.pcall('HGETALL', record)
    if flat.err then
      return {'error', tostring(flat.err)}
    end
    local exists = #flat > 0
    if exists then
      local fields = fields_map(flat)
      if LIVE[fields.state] then
        if replace ~= '1' then
          return {'exists', flat}
        end
        -- Replace: the waiting work goes; a running execution keeps its lease,
        -- and its settlement goes stale with the generation below.
        forget_sets()
        withdraw(queue, future, stream, key, {fields.state, fields.generation, fields.message_id})
      end
    end
    if last_generation == nil then
      last_generation = redis.call('INCR', counter)
    else
      last_generation = last_generation + 1
      counted_on = true
    end
    local generation = string.format('%d', last_generation)
    local m = member(generation, key)
    local state, woke
    if tonumber(when) <= now_ms then
      -- Workers wait only after a claim left the queue empty: wake them when
      -- it fills again.
      if queue_size == nil then queue_size = redis.call('ZCARD', queue) end
      woke = queue_size == 0
      local values = placed[queue]
      values[#values + 1] = when
      values[#values + 1] = m
      queue_size = queue_size + 1
      state = 'queued'
    else
      -- The earliest future work: a waiting worker's next wake-up may now be too late.
      woke = place_future(when, generation, m)
      state = 'scheduled'
    end
    if woke then wake(wakes) end
    if exists then redis.call('DEL', record) end
    redis.call('HSET', record, 'key', key, 'function', messages[a + 2], 'payload', messages[a + 3],
      'when', when, 'attempt', messages[a + 5], 'headers', messages[a + 6], 'generation',
      generation, 'state', state)
    publish(events, key, state, generation)
    -- One integer: Lua numbers are doubles, exact far past any generation.
    return last_generation * 4 + (state == 'scheduled' and 2 or 0) + (woke and 1 or 0)
  end

  -- Whatever stops the loop (a key of the docket written over with another
  -- type), the work already placed is added and the counter kept past every
  -- generation handed out, as if each message had been its own call.
  local ok, err = pcall(function()
    for i = 1, count do
      replies[i] = schedule_one(records[rfirst + i - 1], first + (i - 1) * 6 - 1)
    end
  end)
  local added, add_err = pcall(add_placed)
  if counted_on then
    redis.call('SET', counter, string.format('%d', last_generation))
  end
  local failure = (not ok and err) or (not added and add_err) or nil
  if failure ~= nil then
    -- Returned as an error reply, not raised again: Redis would prefix a
    -- raised string with ERR, and READONLY (a demoted master) would no
    -- longer read as such.  Redis 6 puts where the call was before the reply.
    if type(failure) == 'table' then return failure end
    failure = tostring(failure)
    return redis.error_reply(string.match(failure, '^@user_script: %d+: %-(.*)$') or failure)
  end
  return replies
end
