-- settle_batch: acknowledge deliveries and end or reschedule their records,
-- fenced by generation.  Shared by settle.lua and settle_and_claim.lua.
-- KEYS: stream, queue, future, leases, holders, generation, wake, record...
--       (record i belongs to settlement i)
-- ARGV: group, now, events, ..., then from ARGV[first + 1] each settlement:
--       13 values: delivery, key, generation, state, completed_at,
--       expires_at, gc_ms, has_result, result, has_error, error, started_at
--       ('' to keep it), reschedule ('0' or '1'); and when reschedule is '1',
--       8 more: function, payload, when, attempt, headers, slots key, parked
--       key ('' and '' unless the run waits for a slot), limit.  A run that
--       ends sends only the first 13: fewer arguments for Redis to copy.
-- Returns one 1/0 per settlement (1 when it changed the record), then woke.
local ENDING_WIDTH, RESCHEDULING_WIDTH = 13, 21

-- A rescheduled run that waits for a slot (see Settlement.wait_for): due at
-- once if one is free, else parked, first come first woken, with `when` as
-- the fallback.  Returns the time it is due.
local function park(slots, parked, limit, key, generation, when, now)
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  if redis.call('ZCARD', slots) < tonumber(limit) then return now end
  redis.call('RPUSH', parked, member(generation, key))
  return when
end

local function settle_batch(first)
  local stream, queue, future, leases, holders = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
  local counter, wakes = KEYS[6], KEYS[7]
  local group, now, events = ARGV[1], ARGV[2], ARGV[3]
  local count = #KEYS - 7
  local deliveries = {}
  local out = {}
  local woke = 0
  local a = first
  for i = 1, count do
    deliveries[i] = ARGV[a + 1]
    local key, generation, state = ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    local record = KEYS[7 + i]
    -- An unreadable record (not a hash) cannot take the outcome: not applied.
    local current = read_fields(record, 'state', 'generation', 'worker') or {}
    if current[1] == 'running' and current[2] == generation then
      if ARGV[a + 13] == '1' then
        local fresh = next_generation(counter)
        local when = ARGV[a + 16]
        if ARGV[a + 19] ~= '' then
          when = park(ARGV[a + 19], ARGV[a + 20], ARGV[a + 21], key, fresh, when, now)
        end
        local placed, w = place(queue, future, wakes, key, fresh, when, now)
        store(record, key, ARGV[a + 14], ARGV[a + 15], when, ARGV[a + 17], ARGV[a + 18], fresh, placed)
        publish(events, key, placed, fresh)
        if w then woke = 1 end
      else
        local result, err, started_at = nil, nil, nil
        if ARGV[a + 8] == '1' then result = ARGV[a + 9] end
        if ARGV[a + 10] == '1' then err = ARGV[a + 11] end
        if ARGV[a + 12] ~= '' then started_at = ARGV[a + 12] end
        finish(record, state, ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], result, err, started_at, true)
        publish(events, key, state, generation, current[3], err)
      end
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    if ARGV[a + 13] == '1' then a = a + RESCHEDULING_WIDTH else a = a + ENDING_WIDTH end
  end
  -- Every delivery is acknowledged whether or not its outcome still applied,
  -- and only now: should the script fail part way, every delivery keeps its
  -- lease, and is redelivered rather than left running with no lease at all.
  drop_all(stream, group, leases, holders, deliveries)
  out[#out + 1] = woke
  return out
end
