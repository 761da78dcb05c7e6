-- llmteam.ratelimit: compare-and-set of a circuit-breaker snapshot (JSON with a "version" counter).
-- KEYS[1] snapshot key. ARGV: 1 expected version, 2 new snapshot JSON, 3 ttl seconds.
-- Returns 1 when written, 0 when another process changed the snapshot first (the caller reloads and retries).
local current = redis.call('GET', KEYS[1])
local version = 0
if current then
  version = tonumber(cjson.decode(current)['version']) or 0
end
if version ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
