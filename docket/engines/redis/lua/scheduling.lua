-- schedule_one: store new work under a key, unless a live record holds it.
-- Shared by schedule.lua and schedule_many.lua.
-- Returns {'scheduled', generation, state, woke 1/0}, {'exists', record
-- fields} or, when the record key holds something other than a hash (written
-- over by something other than docket), {'error', why}: that key alone is
-- refused, before anything is written.
local function schedule_one(record, key, fn, payload, when, attempt, headers, now, replace,
                            events, queue, future, stream, counter, wakes)
  local current, err = read_fields(record, 'state', 'generation', 'message_id')
  if current == nil then
    return {'error', err}
  end
  if LIVE[current[1]] then
    if replace ~= '1' then
      return {'exists', redis.call('HGETALL', record)}
    end
    -- Replace: the waiting work goes; a running execution keeps its lease, and
    -- its settlement goes stale with the generation below.
    withdraw(queue, future, stream, key, current)
  end
  local generation = next_generation(counter)
  local state, woke = place(queue, future, wakes, key, generation, when, now)
  store(record, key, fn, payload, when, attempt, headers, generation, state)
  publish(events, key, state, generation)
  return {'scheduled', generation, state, woke and 1 or 0}
end
