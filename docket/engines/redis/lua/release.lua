-- release: hand back deliveries a worker claimed but never started.
-- KEYS: stream, queue, leases, holders, wake
-- ARGV: group, worker, runs, events, delivery...
-- Returns how many records went back to the queue.  Each keeps its
-- generation and `when`, so its queue member and score are what they were and
-- it keeps its place in due order.
local stream, queue, leases, holders, wakes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, worker, runs, events = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local was_empty = redis.call('ZCARD', queue) == 0
local released = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', holders, id) == worker then
    local entry = redis.call('XRANGE', stream, id, id)[1]
    local fields = fields_map(entry and entry[2])
    local key, generation = fields['key'], fields['generation']
    local record = key and generation and (runs .. key)
    local current = record and read_fields(record, 'state', 'generation', 'when')
    if record and current == nil then
      -- Its record is unreadable (not a hash): it keeps its lease, and once
      -- that expires a worker reclaims it and sets it aside.
    else
      drop(stream, group, leases, holders, id)
      if current and current[1] == 'running' and current[2] == generation and current[3] then
        redis.call('HDEL', record, 'worker', 'started_at', 'message_id')
        redis.call('HSET', record, 'state', 'queued')
        redis.call('ZADD', queue, current[3], member(generation, key))
        publish(events, key, 'queued', generation)
        released = released + 1
      end
    end
  end
end
if released > 0 and was_empty then wake(wakes) end
return released
