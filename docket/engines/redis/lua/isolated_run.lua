-- isolated_run: count a run of a suspected execution that starts alone.
-- KEYS: record
-- ARGV: generation
-- Returns 1 when counted, 0 when the record is not running at that generation.
local current = read_fields(KEYS[1], 'state', 'generation')
if current == nil or current[1] ~= 'running' or current[2] ~= ARGV[1] then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'isolated_runs', 1)
return 1
