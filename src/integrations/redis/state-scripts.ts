// The Lua scripts of the shared state (redisState()). Every script runs atomically and reads the
// time from Redis (TIME), so all processes agree on what has expired whatever their own clocks say.
//
// Key layout, per scope (under the namespace's hash tag, so a cluster keeps a namespace on one slot):
//   <prefix>{ns}:sv:<scope>  hash  key -> value
//   <prefix>{ns}:se:<scope>  zset  key -> expiry (ms, Redis clock)
// The sorted set makes count() one ZCOUNT and entries() one range over live members, whatever the
// scope's size. Writes drop expired members (at most SWEEP per call, so no call is unbounded) and
// set both keys to expire with the scope's latest entry: an abandoned scope disappears by itself.
// Foreign data: a key of another type fails the script (`EESDATA <key>: ...`, before any write); a
// member whose expiry lies beyond the longest ttl, or without a value, is not ours and is dropped
// or skipped, never returned (values are checked again, for size, where they are read).

/** Expired members dropped per call at most (a bound on one script's work). */
const SWEEP = 1000;

const COMMON = `
local values, expiries = KEYS[1], KEYS[2]
local function fmt(n) return string.format('%d', n) end
local function fail(key, what) error({ err = 'EESDATA ' .. key .. ': ' .. what }) end
local function expect(key, kind)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= kind then fail(key, 'is not the ' .. kind .. ' this library writes') end
end
expect(values, 'hash')
expect(expiries, 'zset')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Expiries later than this are not ours (no entry lives longer than the longest ttl).
local latest = now + tonumber(ARGV[1])
local function live(score)
  local s = tonumber(score)
  return s ~= nil and s > now and s <= latest
end
-- Both keys expire with the scope's latest entry; with no member left, the values go too.
local function expire_scope()
  local last = redis.call('ZRANGE', expiries, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', values)
    return
  end
  local at = fmt(math.min(tonumber(last[2]), latest))
  redis.call('PEXPIREAT', values, at)
  redis.call('PEXPIREAT', expiries, at)
end
-- Drops expired members and members that are not ours; returns how many.
local function sweep()
  local gone = redis.call('ZRANGEBYSCORE', expiries, '-inf', fmt(now), 'LIMIT', 0, ${SWEEP})
  local foreign = redis.call('ZRANGEBYSCORE', expiries, '(' .. fmt(latest), '+inf', 'LIMIT', 0, ${SWEEP})
  for _, k in ipairs(foreign) do gone[#gone + 1] = k end
  if #gone > 0 then
    redis.call('ZREM', expiries, unpack(gone))
    redis.call('HDEL', values, unpack(gone))
    expire_scope()
  end
  return #gone
end
`;

/** put: KEYS = values, expiries; ARGV = longest ttl, key, value, ttl (ms). */
export const STATE_PUT_LUA = `${COMMON}
sweep()
redis.call('HSET', values, ARGV[2], ARGV[3])
redis.call('ZADD', expiries, fmt(now + tonumber(ARGV[4])), ARGV[2])
expire_scope()
return 1
`;

/**
 * compare-and-set: KEYS = values, expiries; ARGV = longest ttl, key, value, ttl (ms), '1' with an
 * expected value in ARGV[6] or '0' for "no live entry". 1 when it was set, 0 when the live value
 * differed (atomic: a script runs alone).
 */
export const STATE_CAS_LUA = `${COMMON}
sweep()
local current = false
if live(redis.call('ZSCORE', expiries, ARGV[2])) then current = redis.call('HGET', values, ARGV[2]) end
if ARGV[5] == '1' then
  if current ~= ARGV[6] then return 0 end
elseif current then
  return 0
end
redis.call('HSET', values, ARGV[2], ARGV[3])
redis.call('ZADD', expiries, fmt(now + tonumber(ARGV[4])), ARGV[2])
expire_scope()
return 1
`;

/** get: KEYS = values, expiries; ARGV = longest ttl, key. The live value, or nil. */
export const STATE_GET_LUA = `${COMMON}
if not live(redis.call('ZSCORE', expiries, ARGV[2])) then return false end
return redis.call('HGET', values, ARGV[2])
`;

/** delete: KEYS = values, expiries; ARGV = longest ttl, key. 1 when a live entry was removed. */
export const STATE_DELETE_LUA = `${COMMON}
local was = live(redis.call('ZSCORE', expiries, ARGV[2]))
redis.call('ZREM', expiries, ARGV[2])
redis.call('HDEL', values, ARGV[2])
expire_scope()
if was then return 1 end
return 0
`;

/** count: KEYS = values, expiries; ARGV = longest ttl. How many members are live. */
export const STATE_COUNT_LUA = `${COMMON}
sweep()
return redis.call('ZCOUNT', expiries, '(' .. fmt(now), fmt(latest))
`;

/**
 * entries: KEYS = values, expiries; ARGV = longest ttl, limit. { keys, values } of live members,
 * soonest expiry first; a member without a value is skipped. Values are fetched in chunks (Lua's
 * unpack() has a bound on its arguments).
 */
export const STATE_ENTRIES_LUA = `${COMMON}
sweep()
local keys = redis.call('ZRANGEBYSCORE', expiries, '(' .. fmt(now), fmt(latest), 'LIMIT', 0, tonumber(ARGV[2]))
local out_keys, out_values = {}, {}
for i = 1, #keys, 1000 do
  local chunk = {}
  for j = i, math.min(i + 999, #keys) do chunk[#chunk + 1] = keys[j] end
  local got = redis.call('HMGET', values, unpack(chunk))
  for j = 1, #chunk do
    if got[j] then
      out_keys[#out_keys + 1] = chunk[j]
      out_values[#out_values + 1] = got[j]
    end
  end
end
return { out_keys, out_values }
`;
