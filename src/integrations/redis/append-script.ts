// The append script: checks every key it will touch, then writes. Redis runs a script atomically
// but does not roll back what it wrote before an error, so every check that can fail comes first:
// a failed append has stored nothing and moved no sequence number.
import { randomBytes } from 'node:crypto';
import { STREAM_CHANNEL_EVENTS, STREAM_CHANNEL_PREFIX } from '../../base/stream-limits.js';
import { COMMON } from './scripts.js';
import type { AppendItem, AppendResult } from './types.js';

/**
 * append: KEYS = epoch, seq, last, token, then one history key per distinct channel of the batch,
 * then one idempotency key per distinct key.
 * ARGV = candidate epoch, maxLen, maxAgeMs (0: none), pubsub command ('SPUBLISH' | 'PUBLISH'),
 *        pubsub channel prefix, deadline (Redis ms), token ttl (ms), idempotency window (ms),
 *        the response streams' pubsub channel, m (distinct channels), then the m channel names,
 *        then per item: channel index (1..m), body, idempotency key index (0: none; else
 *        KEYS[4 + m + index]).
 * Returns 'epoch,seq1,prev1,dup1,seq2,prev2,dup2,...' (dup 1: an event published before with the
 * same idempotency key, whose seq it returns; not stored again). The reply is kept under
 * the token: the same token again returns it without appending (a retry after a lost reply).
 * Arriving after the deadline, an unknown token is refused with EESEXPIRED: once the caller's
 * deadline passed, no copy of the request can still store the events.
 * Publishes one message per run of consecutive stored events on one channel: a JSON array
 * [epoch, seq, prevSeq, body, seq, prevSeq, body, ...] (seqs as strings). Response streams'
 * chunks (`~stream/` channels) go to one pubsub channel of the namespace instead, one message per
 * run of consecutive stream events, whatever their streams: [epoch, channel, seq, prevSeq, body,
 * ...]. A token fanned into 1,000 streams is then one message per append, not one per token.
 */
export const APPEND_LUA = `${COMMON}
local token_key = KEYS[4]
local cached = read(token_key, 'string', 'GET', token_key)
if cached then
  if not string.match(cached, '^[0-9a-z]+,%d') then fail(token_key, 'holds no append reply') end
  return cached
end
local now = now_ms()
if now > tonumber(ARGV[6]) then
  return redis.error_reply('EESEXPIRED the append reached Redis after its deadline; nothing was stored')
end
local H = 10
local m = tonumber(ARGV[10])
local n = (#ARGV - H - m) / 3
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
local is_stream = {}
local touched = {}
local chans = {}
local seqs = {}
local prevs = {}
local dups = {}
local seen = {}
for i = 1, n do
  local at = H + m + 3 * i
  local c = tonumber(ARGV[at - 2])
  local idem = tonumber(ARGV[at])
  chans[i] = c
  local dup = nil
  if idem > 0 then
    local idem_key = KEYS[4 + m + idem]
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
    local prev = last_of[c]
    if prev == nil then
      -- XADD refuses an id not above the stream's top: find that out before writing anything.
      -- (The top only if it is at or above this id: normally an empty reply, no entry to decode.)
      local key = KEYS[4 + c]
      local channel = ARGV[H + c]
      local above = read(key, 'stream', 'XREVRANGE', key, '+', fmt(seq) .. '-0', 'COUNT', 1)
      if #above > 0 then
        fail(key, 'has entry ' .. above[1][1] .. ' at or above the next id ' .. fmt(seq) .. '-0')
      end
      prev = count_of(KEYS[3], read(KEYS[3], 'hash', 'HGET', KEYS[3], channel)) or 0
      is_stream[c] = string.sub(channel, 1, #stream_prefix) == stream_prefix
      touched[#touched + 1] = c
    end
    last_of[c] = seq
    seqs[i], prevs[i], dups[i] = seq, prev, 0
    if idem > 0 then seen[KEYS[4 + m + idem]] = { seq, prev } end
  end
end

-- 2. Writes.
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
redis.call('SET', KEYS[2], fmt(seq))
local out = {}
-- One message per run of consecutive events on the same pubsub channel: a subscriber gets
-- messages in execution order, so runs keep the seq order across channels (grouping all of a
-- channel's events of the batch would put its later events before another channel's earlier ones).
-- Run 0 is the response streams' channel.
local run = nil
local run_of = nil
local function flush()
  if not run then return end
  local name = run_of == 0 and ARGV[9] or ARGV[5] .. ARGV[H + run_of]
  redis.call(ARGV[4], name, cjson.encode(run))
end
if max_age > 0 then
  for j = 1, #touched do expire(KEYS[4 + touched[j]], now - max_age) end
end
local now_text = fmt(now)
for i = 1, n do
  local s = fmt(seqs[i])
  local p = fmt(prevs[i])
  out[#out + 1] = s
  out[#out + 1] = p
  out[#out + 1] = dups[i] == 1 and '1' or '0'
  if dups[i] == 0 then
    local c = chans[i]
    local at = H + m + 3 * i
    local body = ARGV[at - 1]
    local stream = is_stream[c]
    if stream then
      redis.call('XADD', KEYS[4 + c], 'MAXLEN', '~', stream_max, s .. '-0', 'p', p, 't', now_text, 'b', body)
    else
      redis.call('XADD', KEYS[4 + c], 'MAXLEN', max_len, s .. '-0', 'p', p, 't', now_text, 'b', body)
    end
    local idem = tonumber(ARGV[at])
    if idem > 0 then
      redis.call('SET', KEYS[4 + m + idem], s .. ':' .. p, 'PX', window)
    end
    local this_run = stream and 0 or c
    if this_run ~= run_of then
      flush()
      run = { epoch }
      run_of = this_run
    end
    if stream then run[#run + 1] = ARGV[H + c] end
    run[#run + 1] = s
    run[#run + 1] = p
    run[#run + 1] = body
  end
end
-- HSET in chunks: unpack() of a huge table would overflow Lua's C stack.
local fields = {}
for j = 1, #touched do
  local c = touched[j]
  fields[#fields + 1] = ARGV[H + c]
  fields[#fields + 1] = fmt(last_of[c])
  if #fields >= 400 then
    redis.call('HSET', KEYS[3], unpack(fields))
    fields = {}
  end
  -- An abandoned channel's stream goes away once all of it would have expired anyway.
  if max_age > 0 then redis.call('PEXPIRE', KEYS[4 + c], max_age) end
end
if #fields > 0 then redis.call('HSET', KEYS[3], unpack(fields)) end
flush()
-- One string, joined in C: no table of 3 numbers per item to encode, cache and send back.
local reply = epoch .. ',' .. table.concat(out, ',')
redis.call('SET', token_key, reply, 'PX', ARGV[7])
return reply
`;

/** A fresh epoch candidate: 8 base-36 characters (the scripts keep an existing one). */
export function newEpoch(): string {
  return randomBytes(6).readUIntBE(0, 6).toString(36).padStart(8, '0').slice(-8);
}

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

/**
 * The pub/sub channel carrying `channel`'s events in the namespace `base` (`<prefix>{ns}:`): one
 * per channel, and one for every response stream's chunks.
 */
export function pubsubName(base: string, channel: string): string {
  return channel.startsWith(STREAM_CHANNEL_PREFIX) ? `${base}s` : `${base}p:${channel}`;
}

/** The script's KEYS and ARGV for `items`, with a fresh token. */
export function appendRequest(
  items: ReadonlyArray<AppendItem>,
  config: AppendConfig,
): { keys: string[]; args: string[] } {
  const { base } = config;
  const token = randomBytes(12).toString('base64url');
  const keys = [`${base}epoch`, `${base}seq`, `${base}last`, `${base}t:${token}`];
  // Each distinct channel once (its name in ARGV, its history key in KEYS); items point at it.
  const channelIndex = new Map<string, number>();
  const channels: string[] = [];
  for (const { channel } of items) {
    if (channelIndex.has(channel)) continue;
    channelIndex.set(channel, channels.length + 1);
    channels.push(channel);
    keys.push(`${base}h:${channel}`);
  }
  const args = [
    config.epochCandidate,
    String(config.maxEvents),
    String(config.maxAgeMs),
    config.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH',
    `${base}p:`,
    String(config.deadline),
    String(config.tokenTtlMs),
    String(config.idempotencyWindowMs),
    pubsubName(base, STREAM_CHANNEL_PREFIX),
    String(channels.length),
    ...channels,
  ];
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
    args.push(String(channelIndex.get(channel)), body, String(index));
  }
  return { keys, args };
}

/** The script's reply: the epoch, then seq, prevSeq and the duplicate flag per item, comma-separated. */
export type AppendReply = string;

export function appendOutcome(text: AppendReply, count: number): { epoch: string; events: AppendResult[] } {
  const reply = String(text).split(',');
  const events: AppendResult[] = [];
  for (let i = 0; i < count; i++) {
    const seq = Number(reply[1 + 3 * i]);
    const prevSeq = Number(reply[2 + 3 * i]);
    events.push(reply[3 + 3 * i] === '1' ? { seq, prevSeq, duplicate: true } : { seq, prevSeq });
  }
  return { epoch: String(reply[0]), events };
}
