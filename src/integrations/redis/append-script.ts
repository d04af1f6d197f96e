// The append script: checks every key it will touch, then writes. Redis runs a script atomically
// but does not roll back what it wrote before an error, so every check that can fail comes first:
// a failed append has stored nothing and moved no sequence number.
import { randomBytes } from 'node:crypto';
import { STREAM_CHANNEL_EVENTS, STREAM_CHANNEL_PREFIX } from '../../base/stream-limits.js';
import { COMMON } from './scripts.js';
import type { AppendItem, AppendResult } from './types.js';

/**
 * append: KEYS = epoch, seq, last, token, then one history key per item, then one idempotency key
 * per item that has one.
 * ARGV = candidate epoch, maxLen, maxAgeMs (0: none), pubsub command ('SPUBLISH' | 'PUBLISH'),
 *        pubsub channel prefix, deadline (Redis ms), token ttl (ms), idempotency window (ms),
 *        then channel, body, idempotency key index (0: none; else KEYS[4 + n + index]) per item.
 * Returns { epoch, seq1, prev1, dup1, seq2, prev2, dup2, ... } (dup 1: an event published before
 * with the same idempotency key, whose seq it returns; not stored again). The reply is kept under
 * the token: the same token again returns it without appending (a retry after a lost reply).
 * Arriving after the deadline, an unknown token is refused with EESEXPIRED: once the caller's
 * deadline passed, no copy of the request can still store the events.
 * Publishes one message per run of consecutive stored events on one channel: a JSON array
 * [epoch, seq, prevSeq, body, seq, prevSeq, body, ...] (seqs as strings).
 */
export const APPEND_LUA = `${COMMON}
local token_key = KEYS[4]
local cached = read(token_key, 'string', 'GET', token_key)
if cached then
  local ok, reply = pcall(cjson.decode, cached)
  if not ok or type(reply) ~= 'table' or type(reply[1]) ~= 'string' then fail(token_key, 'holds no append reply') end
  return reply
end
local now = now_ms()
if now > tonumber(ARGV[6]) then
  return redis.error_reply('EESEXPIRED the append reached Redis after its deadline; nothing was stored')
end
local n = (#ARGV - 8) / 3
local max_len = ARGV[2]
local max_age = tonumber(ARGV[3])
local window = ARGV[8]
-- A response stream's channel is bounded by its producer (maxChunks), not by maxLen; its trim is
-- approximate (whole stream nodes), which never keeps fewer entries than asked.
local stream_prefix = '${STREAM_CHANNEL_PREFIX}'
local stream_max = '${STREAM_CHANNEL_EVENTS}'

-- 1. Checks (reads only).
local epoch = read_epoch(KEYS[1])
local seq = count_of(KEYS[2], read(KEYS[2], 'string', 'GET', KEYS[2])) or 0
local last_of = {}
local touched = {}
local seqs = {}
local prevs = {}
local dups = {}
local seen = {}
for i = 1, n do
  local channel = ARGV[6 + 3 * i]
  local key = KEYS[4 + i]
  local idem = tonumber(ARGV[8 + 3 * i])
  local dup = nil
  if idem > 0 then
    local idem_key = KEYS[4 + n + idem]
    dup = seen[idem_key]
    local value = not dup and read(idem_key, 'string', 'GET', idem_key)
    if value then
      local s, p = string.match(value, '^(%d+):(%d+)$')
      if not s then fail(idem_key, 'holds no idempotency record') end
      dup = { tonumber(s), tonumber(p) }
    end
  end
  if dup then
    seqs[i], prevs[i], dups[i] = dup[1], dup[2], 1
  else
    seq = seq + 1
    local prev = last_of[channel]
    if prev == nil then
      -- XADD refuses an id not above the stream's top: find that out before writing anything.
      local top = read(key, 'stream', 'XREVRANGE', key, '+', '-', 'COUNT', 1)
      if #top > 0 and tonumber(string.match(top[1][1], '^(%d+)')) >= seq then
        fail(key, 'has entry ' .. top[1][1] .. ' at or above the next id ' .. fmt(seq) .. '-0')
      end
      prev = count_of(KEYS[3], read(KEYS[3], 'hash', 'HGET', KEYS[3], channel)) or 0
      touched[#touched + 1] = channel
      touched[#touched + 1] = key
    end
    last_of[channel] = seq
    seqs[i], prevs[i], dups[i] = seq, prev, 0
    if idem > 0 then seen[KEYS[4 + n + idem]] = { seq, prev } end
  end
end

-- 2. Writes.
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
redis.call('SET', KEYS[2], fmt(seq))
local out = { epoch }
-- One message per run of consecutive events on the same channel: a subscriber gets messages in
-- execution order, so runs keep the seq order across channels (grouping all of a channel's
-- events of the batch would put its later events before another channel's earlier ones).
local run = nil
local run_channel = nil
local function flush()
  if run then redis.call(ARGV[4], ARGV[5] .. run_channel, cjson.encode(run)) end
end
if max_age > 0 then
  for j = 2, #touched, 2 do expire(touched[j], now - max_age) end
end
for i = 1, n do
  out[#out + 1] = seqs[i]
  out[#out + 1] = prevs[i]
  out[#out + 1] = dups[i]
  if dups[i] == 0 then
    local channel = ARGV[6 + 3 * i]
    local body = ARGV[7 + 3 * i]
    if string.sub(channel, 1, #stream_prefix) == stream_prefix then
      redis.call('XADD', KEYS[4 + i], 'MAXLEN', '~', stream_max, fmt(seqs[i]) .. '-0', 'p', fmt(prevs[i]), 't', fmt(now), 'b', body)
    else
      redis.call('XADD', KEYS[4 + i], 'MAXLEN', max_len, fmt(seqs[i]) .. '-0', 'p', fmt(prevs[i]), 't', fmt(now), 'b', body)
    end
    local idem = tonumber(ARGV[8 + 3 * i])
    if idem > 0 then
      redis.call('SET', KEYS[4 + n + idem], fmt(seqs[i]) .. ':' .. fmt(prevs[i]), 'PX', window)
    end
    if channel ~= run_channel then
      flush()
      run = { epoch }
      run_channel = channel
    end
    run[#run + 1] = fmt(seqs[i])
    run[#run + 1] = fmt(prevs[i])
    run[#run + 1] = body
  end
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
redis.call('SET', token_key, cjson.encode(out), 'PX', ARGV[7])
return out
`;

/** What an append needs besides its items (see the script's ARGV). */
export interface AppendConfig {
  /** `<prefix>{ns}:` */
  readonly base: string;
  readonly epochCandidate: string;
  readonly maxEvents: number;
  readonly maxAgeMs: number;
  readonly pubsub: 'sharded' | 'classic';
  /** Redis time (ms) after which the script refuses this request. */
  readonly deadline: number;
  readonly tokenTtlMs: number;
  readonly idempotencyWindowMs: number;
}

/** The script's KEYS and ARGV for `items`, with a fresh token. */
export function appendRequest(
  items: ReadonlyArray<AppendItem>,
  config: AppendConfig,
): { keys: string[]; args: string[] } {
  const { base } = config;
  const token = randomBytes(12).toString('base64url');
  const keys = [`${base}epoch`, `${base}seq`, `${base}last`, `${base}t:${token}`];
  const args = [
    config.epochCandidate,
    String(config.maxEvents),
    String(config.maxAgeMs),
    config.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH',
    `${base}p:`,
    String(config.deadline),
    String(config.tokenTtlMs),
    String(config.idempotencyWindowMs),
  ];
  for (const { channel } of items) keys.push(`${base}h:${channel}`);
  // Each distinct idempotency key once, after the history keys; items point at it by index.
  const keyIndex = new Map<string, number>();
  for (const { channel, body, key } of items) {
    let index = 0;
    if (key !== undefined) {
      index = keyIndex.get(key) ?? keyIndex.size + 1;
      if (index > keyIndex.size) {
        keyIndex.set(key, index);
        keys.push(`${base}i:${key}`);
      }
    }
    args.push(channel, body, String(index));
  }
  return { keys, args };
}

/** The script's reply: the epoch, then seq, prevSeq and the duplicate flag per item. */
export type AppendReply = [string, ...number[]];

export function appendOutcome(reply: AppendReply, count: number): { epoch: string; events: AppendResult[] } {
  const events: AppendResult[] = [];
  for (let i = 0; i < count; i++) {
    const seq = Number(reply[1 + 3 * i]);
    const prevSeq = Number(reply[2 + 3 * i]);
    events.push(Number(reply[3 + 3 * i]) === 1 ? { seq, prevSeq, duplicate: true } : { seq, prevSeq });
  }
  return { epoch: String(reply[0]), events };
}
