// The Lua scripts of the Redis store. Each runs atomically in Redis, so no process ever sees a
// sequence number without its event, or an event before the events it follows.
//
// Key layout (every key of a namespace carries the hash tag `{ns}`, so all of them live in one
// cluster slot and one script may touch them all):
//   <prefix>{ns}:epoch     string  this history's lifetime; created (from ARGV) when missing
//   <prefix>{ns}:seq       string  the namespace's sequence counter (INCRBY)
//   <prefix>{ns}:last      hash    channel -> seq of its newest event (never expires: it is what
//                                  tells a reader that a channel whose events all expired had any)
//   <prefix>{ns}:h:<chan>  stream  the channel's retained events; entry id `<seq>-0`, fields
//                                  p (prevSeq), t (Redis TIME in ms), b (SSE text without id)
// Pub/sub channel per event channel: <prefix>{ns}:p:<chan> (SPUBLISH, or PUBLISH when classic).
//
// Seqs are formatted with string.format('%d'): tostring() would switch to exponent notation.

/** Shared helpers: epoch read/creation, Redis time, age trimming, gap position. */
const COMMON = `
local function fmt(n) return string.format('%d', n) end
local function get_epoch(key, candidate)
  local epoch = redis.call('GET', key)
  if not epoch then
    epoch = candidate
    redis.call('SET', key, epoch)
  end
  return epoch
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Drop entries older than cutoff (ms) from the front of a stream.
local function expire(key, cutoff)
  while true do
    local batch = redis.call('XRANGE', key, '-', '+', 'COUNT', 32)
    if #batch == 0 then return end
    for j = 1, #batch do
      if tonumber(batch[j][2][4]) >= cutoff then
        if j > 1 then redis.call('XTRIM', key, 'MINID', batch[j][1]) end
        return
      end
    end
    local last = tonumber(string.match(batch[#batch][1], '^(%d+)'))
    redis.call('XTRIM', key, 'MINID', fmt(last + 1) .. '-0')
  end
end
-- The newest seq this channel lost to retention: the prevSeq of its oldest retained entry, or
-- its last seq when nothing is retained.
local function evicted_up_to(key, last)
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  if #first == 0 then return last end
  return tonumber(first[1][2][2])
end
`;

/**
 * append: KEYS = epoch, seq, last, then one history key per item.
 * ARGV = candidate epoch, maxLen, maxAgeMs (0: none), pubsub command ('SPUBLISH' | 'PUBLISH'),
 *        pubsub channel prefix, then channel, body per item.
 * Returns { epoch, seq1, prev1, seq2, prev2, ... }. Publishes one message per run of consecutive
 * events on one channel: a JSON array [epoch, seq, prevSeq, body, seq, prevSeq, body, ...] (seqs
 * as strings).
 */
export const APPEND_LUA = `${COMMON}
local epoch = get_epoch(KEYS[1], ARGV[1])
local n = #KEYS - 3
local first = redis.call('INCRBY', KEYS[2], n) - n + 1
local now = now_ms()
local max_len = ARGV[2]
local max_age = tonumber(ARGV[3])
local out = { epoch }
-- One message per run of consecutive events on the same channel: a subscriber gets messages in
-- execution order, so runs keep the seq order across channels (grouping all of a channel's
-- events of the batch would put its later events before another channel's earlier ones).
local run = nil
local run_channel = nil
local function flush()
  if run then redis.call(ARGV[4], ARGV[5] .. run_channel, cjson.encode(run)) end
end
-- Per channel, read its last seq and trim by age once per batch; write the last seqs once.
local last_of = {}
local touched = {}
for i = 1, n do
  local channel = ARGV[4 + 2 * i]
  local body = ARGV[5 + 2 * i]
  local key = KEYS[3 + i]
  local seq = first + i - 1
  local prev = last_of[channel]
  if prev == nil then
    prev = tonumber(redis.call('HGET', KEYS[3], channel) or '0')
    touched[#touched + 1] = channel
    touched[#touched + 1] = key
    if max_age > 0 then expire(key, now - max_age) end
  end
  last_of[channel] = seq
  redis.call('XADD', key, 'MAXLEN', max_len, fmt(seq) .. '-0', 'p', fmt(prev), 't', fmt(now), 'b', body)
  out[2 * i] = seq
  out[2 * i + 1] = prev
  if channel ~= run_channel then
    flush()
    run = { epoch }
    run_channel = channel
  end
  run[#run + 1] = fmt(seq)
  run[#run + 1] = fmt(prev)
  run[#run + 1] = body
end
-- HSET in chunks: unpack() of a huge table would overflow Lua's C stack.
local fields = {}
for j = 1, #touched, 2 do
  fields[#fields + 1] = touched[j]
  fields[#fields + 1] = fmt(last_of[touched[j]])
  if #fields >= 400 then
    redis.call('HSET', KEYS[3], unpack(fields))
    fields = {}
  end
  -- An abandoned channel's stream goes away once all of it would have expired anyway.
  if max_age > 0 then redis.call('PEXPIRE', touched[j + 1], max_age) end
end
if #fields > 0 then redis.call('HSET', KEYS[3], unpack(fields)) end
flush()
return out
`;

/**
 * read: KEYS = epoch, seq, last, then one history key per channel.
 * ARGV = candidate epoch, limit (0: none), maxAgeMs (0: none), then per channel its name and the
 * position to read after (each channel has its own, so a bus catching up many channels reads them
 * all in one call). Returns { epoch, head, { lastSeq per channel }, { gap flag per channel },
 * { channel index, seq, body, prevSeq, ... } } with records in seq order, at most `limit` (the
 * lowest seqs). A channel with a gap (it lost events above its position) returns no records.
 */
export const READ_LUA = `${COMMON}
local epoch = get_epoch(KEYS[1], ARGV[1])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[2])
local max_age = tonumber(ARGV[3])
local now = now_ms()
local last_seqs = {}
local gaps = {}
local records = {}
for i = 1, #KEYS - 3 do
  local key = KEYS[3 + i]
  local after = tonumber(ARGV[3 + 2 * i])
  local last = tonumber(redis.call('HGET', KEYS[3], ARGV[2 + 2 * i]) or '0')
  last_seqs[i] = last
  gaps[i] = 0
  if max_age > 0 then expire(key, now - max_age) end
  if last > after then
    if evicted_up_to(key, last) > after then
      gaps[i] = 1
    else
      local entries
      if limit > 0 then
        entries = redis.call('XRANGE', key, fmt(after + 1) .. '-0', '+', 'COUNT', limit)
      else
        entries = redis.call('XRANGE', key, fmt(after + 1) .. '-0', '+')
      end
      for _, e in ipairs(entries) do
        records[#records + 1] = { i, tonumber(string.match(e[1], '^(%d+)')), e[2][6], tonumber(e[2][2]) }
      end
    end
  end
end
if #KEYS - 3 > 1 then table.sort(records, function(a, b) return a[2] < b[2] end) end
local flat = {}
local count = #records
if limit > 0 and count > limit then count = limit end
for j = 1, count do
  local r = records[j]
  flat[#flat + 1] = r[1]
  flat[#flat + 1] = r[2]
  flat[#flat + 1] = r[3]
  flat[#flat + 1] = r[4]
end
return { epoch, head, last_seqs, gaps, flat }
`;

/** epoch: KEYS = epoch; ARGV = candidate epoch. Returns the epoch, creating it when missing. */
export const EPOCH_LUA = `${COMMON}
return get_epoch(KEYS[1], ARGV[1])
`;
