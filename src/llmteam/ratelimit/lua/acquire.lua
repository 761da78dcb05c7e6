-- llmteam.ratelimit: one atomic admission decision (contract section 6.2), shared by every process.
-- Mirrors stores/_memory.py and the bucket rules of _bucket.py (late-waiter credit, untracked slack windows).
-- KEYS[1] state hash: tk tokens, ts stamp (refill time or, when full, the moment it filled); ml/mt minute ring
--         newest bucket/total, hl/ht hour ring; ex last expiry refresh (whole seconds); rx until when KEYS[4] may
--         hold ids; the held permits, one field 'p:<id>' each (-> its lease end), hc their number, and le: no lease
--         ends before it (the earliest lease end, or a second after the last look for ended leases if that is
--         later). Permits and their count live in one key, so they cannot disagree, and taking or giving back a
--         permit is part of the bucket's one write. A decision writes only the fields it changed.
-- KEYS[2] minute ring hash (slot -> count)   KEYS[3] hour ring hash
-- KEYS[4] released zset (id -> lease end): ids released while not held, whose decision may still be on its way
--         (it timed out or was cancelled client-side); such a decision is refused when it arrives, so it cannot
--         add a permit nobody owns. At most MAX_RELEASED ids, each kept for the lease.
-- ARGV[1..12] the limit's fixed parameters, one argument each (packed once per limit by the client; a decision
--         converts only those it uses): rate/s, burst (bucket capacity and permit cap), per-minute limit, per-hour
--         limit (-1: the bucket alone keeps the window below it, not tracked), permit lease seconds, minute bucket
--         width, minute ring size, hour bucket width, hour ring size, key ttl seconds, late credit in tokens,
--         reservation in tokens (0 when a window is tracked)
-- ARGV[13] permit id ('' for a call that only releases), ARGV[14] '1' when the caller is a waiter woken for its
--         token or asking for it at most the reservation early (due), ARGV[15] n, ARGV[16..15+n] permit ids whose
--         release is still on its way in another call (sent again: HDEL is idempotent), ARGV[16+n..] permit ids
--         released since the last call.
-- Time is always the Redis server's (TIME): every sharer of the limit agrees on it, and no caller can move it.
-- Returns a status reply (one line, which the client reads in one go) "<admitted 1|0> <wait> <tokens> <s> <us>":
-- wait is, when admitted, the seconds until the caller may proceed (0 unless it was admitted for a token still to
-- come: reserved), when refused, the seconds until rules (a)/(b) may admit (-1: only a release can help, -2:
-- never); tokens the bucket's tokens after the decision (below 0 while a reserved token is still to come); s and
-- us the server's TIME of the decision (seconds, microseconds), so that the caller can place the wait on its own
-- clock (stores/_redis_clock.py). A call that only releases returns "0 0 0 <s> <us>" at once.
local permit, due = ARGV[13], ARGV[14] == '1'
local lease, ttl = tonumber(ARGV[5]), ARGV[10]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local clock = t[1] .. ' ' .. t[2]  -- the reply's time: TIME's own digits (exact, and no number to format)
-- set key's expiry to ttl unless it already has a later one (a sharer with a longer lease set it)
local function extend(key)
  if redis.call('TTL', key) < tonumber(ttl) then  -- -1: none yet, -2: no key (EXPIRE is then a no-op)
    redis.call('EXPIRE', key, ttl)
  end
end
local function fmt(x)  -- for replies: numbers given to redis.call keep full precision without it
  return string.format('%.17g', x)  -- full double precision (Lua's default %.14g would round times)
end

local MAX_RELEASED = 10000
local removed = 0  -- held permits given back by this call
local resent = tonumber(ARGV[15])
-- one by one: unpack() of more than ~8000 ids (releases queued in an outage) is an error. A resent id is not
-- recorded as released if not held: the call that carried it first did that.
for i = 16, 15 + resent do
  removed = removed + redis.call('HDEL', KEYS[1], 'p:' .. ARGV[i])
end
local recorded = false
for i = 16 + resent, #ARGV do
  if redis.call('HDEL', KEYS[1], 'p:' .. ARGV[i]) == 1 then
    removed = removed + 1
  else  -- not held: its decision may still arrive; refuse it then
    redis.call('ZADD', KEYS[4], now + lease, ARGV[i])
    recorded = true
  end
end
if recorded then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  local extra = redis.call('ZCARD', KEYS[4]) - MAX_RELEASED
  if extra > 0 then
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, extra - 1)  -- the oldest first
  end
  extend(KEYS[4])
  -- until then decisions look there (else they need not): the latest end of any id kept, which a sharer with a
  -- shorter lease must not move back
  local rx = tonumber(redis.call('HGET', KEYS[1], 'rx'))
  if rx == nil or rx < now + lease then
    redis.call('HSET', KEYS[1], 'rx', now + lease)
  end
  extend(KEYS[1])
end
if permit == '' then
  if removed > 0 then
    redis.call('HINCRBY', KEYS[1], 'hc', -removed)
  end
  return {ok = '0 0 0 ' .. clock}  -- releases only: nothing decided (the usual four fields, for any reader)
end
local rate, cap, rpm, rph = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

-- the window fields only of a tracked window (an untracked one is neither read nor written)
local st
if rpm < 0 and rph < 0 then
  st = redis.call('HMGET', KEYS[1], 'tk', 'ts', 'ex', 'rx', 'hc', 'le')
else
  st = redis.call('HMGET', KEYS[1], 'tk', 'ts', 'ex', 'rx', 'hc', 'le', 'ml', 'mt', 'hl', 'ht')
end
local out = {}  -- the state fields this decision writes, in one HSET: field, value, field, value...
local function put(field, value)
  out[#out + 1] = field
  out[#out + 1] = value
end
local stored = tonumber(st[5]) or 0  -- hc as stored
local held, le = math.max(0, stored - removed), tonumber(st[6])
local le_changed = false  -- whether le is written
if held >= cap and (le == nil or now >= le) then
  -- only a full permit set can be blocked by leases of crashed processes, and only once the earliest lease has
  -- ended: drop the ended ones, count the rest again, and scan again no sooner than a second (or a lease) later
  local flat = redis.call('HGETALL', KEYS[1])
  local ended, earliest = {}, nil
  held = 0
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == 'p:' then
      local ends = tonumber(flat[i + 1])
      if ends <= now then
        ended[#ended + 1] = flat[i]
      else
        held = held + 1
        if earliest == nil or ends < earliest then
          earliest = ends
        end
      end
    end
  end
  for i = 1, #ended, 1000 do  -- unpack() takes a bounded number of values
    redis.call('HDEL', KEYS[1], unpack(ended, i, math.min(i + 999, #ended)))
  end
  le, le_changed = math.max(earliest or now, now + math.min(1, lease)), true
end
local tokens, ts = tonumber(st[1]), tonumber(st[2])
local fresh = tokens == nil or ts == nil
if fresh then
  tokens, ts = cap, now  -- a new limit starts full
end
local level = tokens
if now > ts then
  level = tokens + (now - ts) * rate
end

local buckets, advance  -- the rings' helpers, made only when a window is tracked (most limits track none)
if rpm >= 0 or rph >= 0 then
  -- the ring's slots as {bucket id, count} pairs, oldest first; `last` is the newest bucket id the ring holds
  buckets = function(key, last, size)
    local flat = redis.call('HGETALL', key)
    local out = {}
    for i = 1, #flat, 2 do
      local slot = tonumber(flat[i])
      out[#out + 1] = {last - ((last - slot) % size), tonumber(flat[i + 1])}
    end
    table.sort(out, function(a, b) return a[1] < b[1] end)
    return out
  end

  -- advance a ring so that `bucket` is its newest bucket, dropping what falls out (mirrors _window.py)
  advance = function(key, last, total, bucket, size)
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
    if bucket - last <= 8 then  -- the usual step: look at the few slots that fall out
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
    for _, b in ipairs(buckets(key, last, size)) do  -- a long step: one read of the (sparse) ring
      if b[1] <= bucket - size then
        total = total - b[2]
        redis.call('HDEL', key, b[1] % size)
      end
    end
    return bucket, total
  end
end

local ml, mt, hl, ht = 0, 0, 0, 0
local mwidth, msize, hwidth, hsize
if rpm >= 0 then
  mwidth, msize = tonumber(ARGV[6]), tonumber(ARGV[7])
  ml, mt = advance(KEYS[2], tonumber(st[7]), tonumber(st[8]), math.floor(now * (1.0 / mwidth)), msize)
end
if rph >= 0 then
  hwidth, hsize = tonumber(ARGV[8]), tonumber(ARGV[9])
  hl, ht = advance(KEYS[3], tonumber(st[9]), tonumber(st[10]), math.floor(now * (1.0 / hwidth)), hsize)
end

local limit, floor = cap, 1
if due then
  limit, floor = cap + tonumber(ARGV[11]), 1 - tonumber(ARGV[12])
end
local available = math.min(level, limit)
local rx = tonumber(st[4])
local admitted = available >= floor and held < cap and (rpm < 0 or mt < rpm) and (rph < 0 or ht < rph)
  and (rx == nil or now >= rx or redis.call('ZREM', KEYS[4], permit) == 0)  -- its caller released it: refused
local ex = tonumber(st[3])
-- a new limit, or the keys' expiry was set a minute ago (_REFRESH_SECONDS in stores/_redis_state.py: the key ttl
-- covers a lease for that long after)
local refresh = fresh or ex == nil or now - ex > 60
-- the bucket keeps `lvl` tokens at `now`; a full bucket keeps the moment it filled as its stamp
local lvl = level
if admitted then
  lvl = available - 1
end
if lvl >= cap then
  tokens, ts = cap, now - (lvl - cap) / rate
else
  tokens, ts = lvl, now
end
if admitted then
  if rpm >= 0 then
    mt = mt + 1
    refresh = redis.call('HINCRBY', KEYS[2], ml % msize, 1) == 1 or refresh  -- a new key, maybe
  end
  if rph >= 0 then
    ht = ht + 1
    refresh = redis.call('HINCRBY', KEYS[3], hl % hsize, 1) == 1 or refresh
  end
  put('p:' .. permit, now + lease)
  held = held + 1
  if le == nil or now + lease < le then  -- (a sharer with a shorter lease, or le pushed a second ahead above)
    le, le_changed = now + lease, true
  end
end
-- what changed, in one write: the bucket, the held permits, the tracked windows, the expiry stamp
put('tk', tokens)
put('ts', ts)
if held ~= stored then  -- (a release and an admission in one call leave it as it was)
  put('hc', held)
end
if le_changed then
  put('le', le)
end
if rpm >= 0 then
  put('ml', ml)
  put('mt', mt)
end
if rph >= 0 then
  put('hl', hl)
  put('ht', ht)
end
if refresh then
  put('ex', t[1])  -- whole seconds are enough (a string: nothing to format)
end
redis.call('HSET', KEYS[1], unpack(out))
if refresh then  -- after the writes, so that a key they created gets its expiry too: idle limits vanish
  for i = 1, 3 do
    extend(KEYS[i])
  end
end
if admitted then
  if tokens >= 0 then  -- the usual admission: no wait
    return {ok = '1 0 ' .. fmt(tokens) .. ' ' .. clock}
  end
  return {ok = '1 ' .. fmt(-tokens / rate) .. ' ' .. fmt(tokens) .. ' ' .. clock}
end

-- seconds until a ring's total drops below limit if nothing more is added (mirrors BucketWindow)
local function until_below(key, last, total, lim, width, size)
  if lim < 0 or total < lim then
    return 0
  end
  for _, b in ipairs(buckets(key, last, size)) do  -- one read of the (sparse) ring, oldest bucket first
    total = total - b[2]
    if total < lim then
      return math.max(0, (b[1] + size) * width - now)
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
return {ok = '0 ' .. fmt(wait) .. ' ' .. fmt(tokens) .. ' ' .. clock}
