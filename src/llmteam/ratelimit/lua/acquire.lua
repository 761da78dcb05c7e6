-- llmteam.ratelimit: one atomic admission decision (contract section 6.2), shared by every process.
-- Mirrors stores/_memory.py and the bucket rules of _bucket.py (late-waiter credit, untracked slack windows).
-- KEYS[1] state hash: field 's', the limit's numbers as twelve little-endian doubles (struct '<12d': nothing to
--         parse or format on a decision; 0 stands for "none"): tk tokens, ts stamp (refill time or, when full, the
--         moment it filled), ex last expiry refresh, rx until when KEYS[4] may hold ids, hc the number of held
--         permits, le no lease ends before it (the earliest lease end, or a second after the last look for ended
--         leases if that is later), ml/mt minute ring newest bucket/total, hl/ht hour ring, mn/hn the count of
--         each ring's newest bucket (kept here, so that an admission writes no ring: the ring gets it when a newer
--         bucket starts); and the held permits, one field 'p:<id>' each (-> '<s> <us> <lease>': admitted at TIME
--         s us, for lease seconds). Permits and their count live in one key, so they cannot disagree, and taking or
--         giving back a permit is part of the bucket's one write. (Versions before kept the numbers one text field
--         each, named as above, and a permit's lease end as a number: a decision reads and converts them.)
-- KEYS[2] minute ring hash (slot -> count, but for the newest bucket's)   KEYS[3] hour ring hash
-- KEYS[4] released zset (id -> lease end): ids released while not held, whose decision may still be on its way
--         (it timed out or was cancelled client-side); such a decision is refused when it arrives, so it cannot
--         add a permit nobody owns. At most MAX_RELEASED ids, each kept for the lease.
-- ARGV[1] the limit's fixed parameters, twelve little-endian doubles (packed once per limit by the client, read
--         without text conversion): rate/s, burst (bucket capacity and permit cap), per-minute limit, per-hour limit
--         (-1: the bucket alone keeps the window below it, not tracked), permit lease seconds, minute bucket width,
--         minute ring size, hour bucket width, hour ring size, key ttl seconds, late credit in tokens, reservation
--         in tokens (0 when a window is tracked); ARGV[2] the lease again, as text (a permit's field carries it)
-- ARGV[3] permit id ('' for a call that only releases), ARGV[4] '1' when the caller is a waiter woken for its
--         token or asking for it at most the reservation early (due), ARGV[5] n, ARGV[6..5+n] permit ids whose
--         release is still on its way in another call (sent again: HDEL is idempotent), ARGV[6+n..] permit ids
--         released since the last call.
-- Time is always the Redis server's (TIME): every sharer of the limit agrees on it, and no caller can move it.
-- Returns a status reply (one line, which the client reads in one go) "<admitted 1|0> <wait> <tokens> <s> <us>":
-- wait is, when admitted, the seconds until the caller may proceed (0 unless it was admitted for a token still to
-- come: reserved), when refused, the seconds until rules (a)/(b) may admit (-1: only a release can help, -2:
-- never); tokens the bucket's tokens after the decision (below 0 while a reserved token is still to come); s and
-- us the server's TIME of the decision (seconds, microseconds), so that the caller can place the wait on its own
-- clock (stores/_redis_clock.py). A call that only releases returns "0 0 0 <s> <us>" at once.
local rate, cap, rpm, rph, lease, mwidth, msize, hwidth, hsize, ttl, late, early = struct.unpack(
  '<dddddddddddd', ARGV[1])
local permit, due = ARGV[3], ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local clock = t[1] .. ' ' .. t[2]  -- the reply's time: TIME's own digits (exact, and no number to format)
-- set key's expiry to ttl unless it already has a later one (a sharer with a longer lease set it)
local function extend(key)
  if redis.call('TTL', key) < ttl then  -- -1: none yet, -2: no key (EXPIRE is then a no-op)
    redis.call('EXPIRE', key, ttl)
  end
end
local function fmt(x)  -- for replies: numbers given to redis.call keep full precision without it
  return string.format('%.17g', x)  -- full double precision (Lua's default %.14g would round times)
end

local MAX_RELEASED = 10000
-- the state: twelve numbers in one field, as binary doubles (no text to parse or format); 0 stands for "none"
local LAYOUT = '<dddddddddddd'
local OLD  -- the same numbers' text fields before, when the state has no field 's' (made only then)
local tokens, ts, ex, rx, hc, le, ml, mt, hl, ht, mn, hn
local migrated = false
local packed = redis.call('HGET', KEYS[1], 's')
if packed then
  tokens, ts, ex, rx, hc, le, ml, mt, hl, ht, mn, hn = struct.unpack(LAYOUT, packed)
else  -- a new limit, or one written by an earlier version (one field per number): read that once
  OLD = {'tk', 'ts', 'ex', 'rx', 'hc', 'le', 'ml', 'mt', 'hl', 'ht'}
  local old = redis.call('HMGET', KEYS[1], unpack(OLD))
  tokens, ts, ex, rx = tonumber(old[1]), tonumber(old[2]), tonumber(old[3]) or 0, tonumber(old[4]) or 0
  hc, le, ml, mt = tonumber(old[5]) or 0, tonumber(old[6]) or 0, tonumber(old[7]) or 0, tonumber(old[8]) or 0
  hl, ht, mn, hn = tonumber(old[9]) or 0, tonumber(old[10]) or 0, 0, 0  -- (its rings held every count)
  for i = 1, #OLD do
    migrated = migrated or old[i] ~= false  -- deleted at the write below
  end
end
if rx == 0 then
  rx = nil
end
if le == 0 then
  le = nil
end
local removed = 0  -- held permits given back by this call
local resent = tonumber(ARGV[5])
-- one by one: unpack() of more than ~8000 ids (releases queued in an outage) is an error. A resent id is not
-- recorded as released if not held: the call that carried it first did that.
for i = 6, 5 + resent do
  removed = removed + redis.call('HDEL', KEYS[1], 'p:' .. ARGV[i])
end
local recorded = false
for i = 6 + resent, #ARGV do
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
  if rx == nil or rx < now + lease then
    rx = now + lease
  end
end
local function save(...)  -- the numbers in one write, with the fields given
  local numbers = struct.pack(LAYOUT, tokens, ts, ex, rx or 0, hc, le or 0, ml, mt, hl, ht, mn, hn)
  redis.call('HSET', KEYS[1], 's', numbers, ...)
  if migrated then
    redis.call('HDEL', KEYS[1], unpack(OLD))
  end
end
if permit == '' then
  if removed > 0 or recorded then
    if tokens == nil or ts == nil then  -- (no bucket yet: it is new, and full)
      tokens, ts = cap, now
    end
    hc = math.max(0, hc - removed)
    save()
    extend(KEYS[1])
  end
  return {ok = '0 0 0 ' .. clock}  -- releases only: nothing decided (the usual fields, for any reader)
end

local held = math.max(0, hc - removed)
if held >= cap and (le == nil or now >= le) then
  -- only a full permit set can be blocked by leases of crashed processes, and only once the earliest lease has
  -- ended: drop the ended ones, count the rest again, and scan again no sooner than a second (or a lease) later
  -- a permit's lease end from its field: '<s> <us> <lease>' (admitted at TIME s us), or a number (versions before)
  local function lease_end(value)
    local sec, micros, seconds = string.match(value, '^(%S+) (%S+) (%S+)$')
    if sec == nil then
      return tonumber(value)
    end
    return tonumber(sec) + tonumber(micros) / 1000000 + tonumber(seconds)  -- the same sum as now + lease
  end
  local flat = redis.call('HGETALL', KEYS[1])
  local ended, earliest = {}, nil
  held = 0
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == 'p:' then
      local ends = lease_end(flat[i + 1])
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
  le = math.max(earliest or now, now + math.min(1, lease))
end
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
  -- the ring's buckets as {bucket id, count} pairs, oldest first; `last` is the newest bucket id, `newest` its count
  -- kept in the state
  buckets = function(key, last, size, newest)
    local flat = redis.call('HGETALL', key)
    local out = {}
    for i = 1, #flat, 2 do
      local slot = tonumber(flat[i])
      out[#out + 1] = {last - ((last - slot) % size), tonumber(flat[i + 1])}
    end
    if newest > 0 then
      out[#out + 1] = {last, newest}
    end
    table.sort(out, function(a, b) return a[1] < b[1] end)
    return out
  end

  -- advance a ring so that `bucket` is its newest bucket, dropping what falls out (mirrors _window.py); `newest` is
  -- the count of bucket `last`, which goes to the ring now that a newer bucket starts. Returns the ring's newest
  -- bucket, total and newest bucket's count.
  advance = function(key, last, total, newest, bucket, size)
    if last == nil or total == nil then
      redis.call('DEL', key)
      return bucket, 0, 0
    end
    if bucket <= last then
      return last, total, newest
    end
    if bucket - last >= size then
      redis.call('DEL', key)
      return bucket, 0, 0
    end
    if newest > 0 then
      redis.call('HINCRBY', key, last % size, newest)
      extend(key)  -- (perhaps a new key)
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
      return bucket, total, 0
    end
    for _, b in ipairs(buckets(key, last, size, 0)) do  -- a long step: one read of the (sparse) ring
      if b[1] <= bucket - size then
        total = total - b[2]
        redis.call('HDEL', key, b[1] % size)
      end
    end
    return bucket, total, 0
  end
end

if rpm >= 0 then  -- (0: no ring yet)
  ml, mt, mn = advance(KEYS[2], ml ~= 0 and ml or nil, mt, mn, math.floor(now * (1.0 / mwidth)), msize)
end
if rph >= 0 then
  hl, ht, hn = advance(KEYS[3], hl ~= 0 and hl or nil, ht, hn, math.floor(now * (1.0 / hwidth)), hsize)
end

local limit, floor = cap, 1
if due then
  limit, floor = cap + late, 1 - early
end
local available = math.min(level, limit)
local admitted = available >= floor and held < cap and (rpm < 0 or mt < rpm) and (rph < 0 or ht < rph)
  and (rx == nil or now >= rx or redis.call('ZREM', KEYS[4], permit) == 0)  -- its caller released it: refused
-- a new limit, or the keys' expiry was set a minute ago (_REFRESH_SECONDS in stores/_redis_state.py: the key ttl
-- covers a lease for that long after)
local refresh = fresh or now - ex > 60
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
    mt, mn = mt + 1, mn + 1
  end
  if rph >= 0 then
    ht, hn = ht + 1, hn + 1
  end
  held = held + 1
  if le == nil or now + lease < le then  -- (a sharer with a shorter lease, or le pushed a second ahead above)
    le = now + lease
  end
end
-- everything in one write: the bucket, the held permits and their count, the tracked windows, the expiry stamp
hc = held
if refresh then
  ex = now
end
if admitted then
  save('p:' .. permit, clock .. ' ' .. ARGV[2])  -- TIME's digits and the lease as given: nothing to format
else
  save()
end
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
local function until_below(key, last, total, newest, lim, width, size)
  if lim < 0 or total < lim then
    return 0
  end
  for _, b in ipairs(buckets(key, last, size, newest)) do  -- one read of the (sparse) ring, oldest bucket first
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
  wait = math.max(wait, until_below(KEYS[2], ml, mt, mn, rpm, mwidth, msize))
  wait = math.max(wait, until_below(KEYS[3], hl, ht, hn, rph, hwidth, hsize))
  if wait <= 0 and held >= cap then
    wait = -1
  end
end
return {ok = '0 ' .. fmt(wait) .. ' ' .. fmt(tokens) .. ' ' .. clock}
