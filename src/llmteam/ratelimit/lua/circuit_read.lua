-- llmteam.ratelimit: read a circuit-breaker snapshot together with the Redis server's time, in one round trip.
-- KEYS[1] snapshot key. Returns {seconds, microseconds, snapshot JSON or false}. Every process applies breaker
-- transitions at the server's time, so no process's clock (skewed, or passed as clock=) can move a shared breaker.
local t = redis.call('TIME')
return {t[1], t[2], redis.call('GET', KEYS[1])}
