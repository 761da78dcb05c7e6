-- llmteam.ratelimit: one atomic admission decision (contract section 6.2), shared by every process.
-- KEYS[1] state hash (tk tokens, ts refill time, ml/mt minute ring newest bucket/total, hl/ht hour ring)
-- KEYS[2] minute ring hash (slot -> count)   KEYS[3] hour ring hash   KEYS[4] held permits zset (id -> lease end)
-- ARGV[1] the limit's fixed parameters, space-separated: rate/s, burst (bucket capacity and permit cap),
--         per-minute limit, per-hour limit, permit lease seconds, minute bucket width, minute ring size,
--         hour bucket width, hour ring size, key ttl seconds (one argument: cheaper to send than ten)
-- ARGV[2] permit id, ARGV[3..] permit ids released since the last call.
-- Time is always the Redis server's (TIME): every sharer of the limit agrees on it, and no caller can move it.
-- Returns {admitted 0/1, wait seconds as text (-1: only a release can help, -2: never), tokens as text}.
local p = {}
for word in string.gmatch(ARGV[1], '%S+') do
  p[#p + 1] = tonumber(word)
end
local rate, cap, rpm, rph, lease = p[1], p[2], p[3], p[4], p[5]
local mwidth, msize, hwidth, hsize, ttl = p[6], p[7], p[8], p[9], p[10]
local permit = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

if #ARGV >= 3 then
  redis.call('ZREM', KEYS[4], unpack(ARGV, 3))
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('%.17g', now))
local held = redis.call('ZCARD', KEYS[4])

local st = redis.call('HMGET', KEYS[1], 'tk', 'ts', 'ml', 'mt', 'hl', 'ht')
local tokens, ts = tonumber(st[1]), tonumber(st[2])
if tokens == nil or ts == nil then
  tokens, ts = cap, now  -- a new limit starts full
end
if now > ts then
  tokens = math.min(cap, tokens + (now - ts) * rate)
  ts = now
end

-- advance a ring so that `bucket` is its newest bucket, dropping what falls out (mirrors _window.py)
local function advance(key, last, total, bucket, size)
  if last == nil or total == nil then
    redis.call('DEL', key)
    return bucket, 0
  end
  if bucket <= last then
    return last, total
  end
  if bucket - last >= size then
    redis.call('DEL', key)
    return bucket, 0
  end
  for k = last + 1, bucket do
    local slot = k % size
    local v = redis.call('HGET', key, slot)
    if v then
      total = total - tonumber(v)
      redis.call('HDEL', key, slot)
    end
  end
  return bucket, total
end

local old_ml = tonumber(st[3])
local ml, mt = advance(KEYS[2], tonumber(st[3]), tonumber(st[4]), math.floor(now * (1.0 / mwidth)), msize)
local hl, ht = advance(KEYS[3], tonumber(st[5]), tonumber(st[6]), math.floor(now * (1.0 / hwidth)), hsize)

local advanced = old_ml == nil or ml ~= old_ml
local admitted = 0
if tokens >= 1 and held < cap and mt < rpm and ht < rph then
  admitted = 1
  tokens = tokens - 1
  mt, ht = mt + 1, ht + 1
  redis.call('HINCRBY', KEYS[2], ml % msize, 1)
  redis.call('HINCRBY', KEYS[3], hl % hsize, 1)
  redis.call('ZADD', KEYS[4], string.format('%.17g', now + lease), permit)
end
-- %.17g keeps full double precision (Lua's default %.14g would round the refill time)
redis.call('HSET', KEYS[1], 'tk', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts),
  'ml', ml, 'mt', mt, 'hl', hl, 'ht', ht)
-- refresh expiry (idle limits vanish) whenever the minute ring moved, which is also whenever a ring key can
-- have been re-created; a new permit set gets it at once.
if advanced then
  for i = 1, 4 do
    redis.call('EXPIRE', KEYS[i], ttl)
  end
elseif admitted == 1 then
  redis.call('EXPIRE', KEYS[4], ttl)
end
if admitted == 1 then
  return {1, '0', string.format('%.17g', tokens)}
end

-- seconds until a ring's total drops below limit if nothing more is added (mirrors BucketWindow)
local function until_below(key, last, total, limit, width, size)
  if total < limit then
    return 0
  end
  for k = last - size + 1, last do
    local v = redis.call('HGET', key, k % size)
    if v then
      total = total - tonumber(v)
    end
    if total < limit then
      return math.max(0, (k + size) * width - now)
    end
  end
  return 0
end

local wait
if cap < 1 then
  wait = -2
else
  wait = math.max(0, (1 - tokens) / rate)
  wait = math.max(wait, until_below(KEYS[2], ml, mt, rpm, mwidth, msize))
  wait = math.max(wait, until_below(KEYS[3], hl, ht, rph, hwidth, hsize))
  if wait <= 0 and held >= cap then
    wait = -1
  end
end
return {0, string.format('%.17g', wait), string.format('%.17g', tokens)}
