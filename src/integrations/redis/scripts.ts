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
//   <prefix>{ns}:t:<token> string  one append's reply (JSON), so a retried append returns it
//                                  instead of appending again; expires
//   <prefix>{ns}:i:<key>   string  `<seq>:<prevSeq>` of the event published with idempotencyKey
//                                  <key>; expires after the idempotency window
// Anything else found in these keys is foreign: entries of a history stream that are not ours are
// skipped when reading; a key of the wrong type, an invalid epoch or seq makes the script fail
// with `EESDATA <key>: <what>` before it writes anything.
// Pub/sub channel per event channel: <prefix>{ns}:p:<chan> (SPUBLISH, or PUBLISH when classic).
//
// Seqs are formatted with string.format('%d'): tostring() would switch to exponent notation.

/** Shared helpers: validation, epoch, Redis time, our stream entries, age trimming, gaps. */
export const COMMON = `
local function fmt(n) return string.format('%d', n) end
-- Foreign data: abort before anything is written (every write of a script comes after its checks).
local function fail(key, what) error({ err = 'EESDATA ' .. key .. ': ' .. what }) end
-- A read command on a key of ours; a key of another type (WRONGTYPE) is foreign data. (pcall
-- instead of a TYPE per key: one command, not two.)
local function read(key, kind, ...)
  local reply = redis.pcall(...)
  if type(reply) == 'table' and reply.err then fail(key, 'is not the ' .. kind .. ' this library writes') end
  return reply
end
local function xrange(key, ...) return read(key, 'stream', 'XRANGE', key, ...) end
-- The epoch goes into every id line: only the id grammar's epochs (1-16 of 0-9 a-z) are accepted.
local function read_epoch(key)
  local epoch = read(key, 'string', 'GET', key)
  if not epoch then return nil end
  if #epoch > 16 or not string.match(epoch, '^[0-9a-z]+$') then
    fail(key, 'holds no valid epoch (1-16 of 0-9 a-z)')
  end
  return epoch
end
local function get_epoch(key, candidate)
  local epoch = read_epoch(key)
  if not epoch then
    epoch = candidate
    redis.call('SET', key, epoch)
  end
  return epoch
end
-- A non-negative integer held in a string (nil: none); anything else is foreign.
local function count_of(key, value)
  if value == false or value == nil then return nil end
  if not string.match(value, '^%d+$') or #value > 15 then fail(key, 'holds no valid sequence number') end
  return tonumber(value)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- One of our stream entries: id <seq>-0, fields p, t, b (by name: another field order, or extra
-- fields, do not shift them). nil for an entry someone else wrote.
local function own(entry)
  local seq = string.match(entry[1], '^(%d+)%-0$')
  if not seq then return nil end
  local f = {}
  local flat = entry[2]
  for j = 1, #flat - 1, 2 do f[flat[j]] = flat[j + 1] end
  local prev, t = tonumber(f.p), tonumber(f.t)
  if not prev or not t or type(f.b) ~= 'string' then return nil end
  return { seq = tonumber(seq), prev = prev, t = t, body = f.b }
end
-- The id right after an entry id, for paging past it.
local function next_id(id)
  local ms, s = string.match(id, '^(%d+)%-(%d+)$')
  return ms .. '-' .. fmt(tonumber(s) + 1)
end
-- Drop entries older than cutoff (ms) from the front of a stream (entries not ours count as old).
local function expire(key, cutoff)
  while true do
    local batch = xrange(key, '-', '+', 'COUNT', 32)
    if #batch == 0 then return end
    for j = 1, #batch do
      local e = own(batch[j])
      if e and e.t >= cutoff then
        if j > 1 then redis.call('XTRIM', key, 'MINID', batch[j][1]) end
        return
      end
    end
    redis.call('XTRIM', key, 'MINID', next_id(batch[#batch][1]))
  end
end
-- The newest seq this channel lost to retention: the prevSeq of its oldest retained entry, or
-- its last seq when nothing is retained.
local function evicted_up_to(key, last)
  local from = '-'
  while true do
    local batch = xrange(key, from, '+', 'COUNT', 32)
    if #batch == 0 then return last end
    for j = 1, #batch do
      local e = own(batch[j])
      if e then return e.prev end
    end
    from = next_id(batch[#batch][1])
  end
end
`;

/**
 * read: KEYS = epoch, seq, last, then one history key per channel.
 * ARGV = candidate epoch, limit (0: none), maxAgeMs (0: none), then per channel its name and the
 * position to read after (each channel has its own, so a bus catching up many channels reads them
 * all in one call). Returns { epoch, head, { lastSeq per channel }, { gap flag per channel },
 * { channel index, seq, body, prevSeq, ... } } with records in seq order, at most `limit` (the
 * lowest seqs). A channel with a gap (it lost events above its position) returns no records.
 * Entries of a history stream that this library did not write are skipped.
 */
export const READ_LUA = `${COMMON}
local epoch = get_epoch(KEYS[1], ARGV[1])
local head = count_of(KEYS[2], read(KEYS[2], 'string', 'GET', KEYS[2])) or 0
local limit = tonumber(ARGV[2])
local max_age = tonumber(ARGV[3])
local now = now_ms()
local last_seqs = {}
local gaps = {}
local records = {}
for i = 1, #KEYS - 3 do
  local key = KEYS[3 + i]
  local after = tonumber(ARGV[3 + 2 * i])
  local last = count_of(KEYS[3], read(KEYS[3], 'hash', 'HGET', KEYS[3], ARGV[2 + 2 * i])) or 0
  last_seqs[i] = last
  gaps[i] = 0
  if max_age > 0 then expire(key, now - max_age) end
  if last > after then
    if evicted_up_to(key, last) > after then
      gaps[i] = 1
    else
      -- Page until \`limit\` of our entries (foreign ones are skipped, so a page may need more).
      local from = fmt(after + 1) .. '-0'
      local got = 0
      while true do
        local entries
        if limit > 0 then
          entries = xrange(key, from, '+', 'COUNT', limit - got)
        else
          entries = xrange(key, from, '+')
        end
        for _, entry in ipairs(entries) do
          local e = own(entry)
          if e then
            records[#records + 1] = { i, e.seq, e.body, e.prev }
            got = got + 1
          end
        end
        if #entries == 0 or limit == 0 or got >= limit then break end
        from = next_id(entries[#entries][1])
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
