// The one migration of the Postgres engine: seven tables and three functions, every name starting
// with the table prefix (default `ees_`), so several histories (namespaces) share one set of
// tables and the app's own tables are never touched. Idempotent (IF NOT EXISTS, CREATE OR
// REPLACE), run under an advisory lock so processes starting together do not race; needs only
// CREATE on the schema, no superuser. `migrationSql()` gives the text for teams that manage
// their schema themselves (`migrate: false`).
//
// Sequence order is commit order: every append (an ordinary publish, or the sequencer moving
// committed outbox rows) first takes the namespace row's lock with `UPDATE … SET head = head + n`
// and inserts its rows in the same short transaction. The next append waits for that lock, so it
// gets higher seqs only after the previous one committed: a reader that sees seq n has seen every
// seq below it, and a rolled-back append rolls its head back too (no gap).
import { trimFunctionSql } from './retention-sql.js';

/** Names of the engine's tables and functions for a prefix. */
export interface SchemaNames {
  readonly namespaces: string;
  readonly channels: string;
  readonly events: string;
  readonly outbox: string;
  readonly state: string;
  readonly appends: string;
  readonly keys: string;
  readonly append: string;
  readonly sequence: string;
  readonly trim: string;
}

export function schemaNames(prefix: string): SchemaNames {
  return {
    namespaces: `${prefix}namespaces`,
    channels: `${prefix}channels`,
    events: `${prefix}events`,
    outbox: `${prefix}outbox`,
    state: `${prefix}state`,
    appends: `${prefix}appends`,
    keys: `${prefix}keys`,
    append: `${prefix}append`,
    sequence: `${prefix}sequence`,
    trim: `${prefix}trim`,
  };
}

/** The advisory lock key (first half) of the migration and of the sequencer: 'ees' in ASCII. */
export const LOCK_CLASS = 0x656573;

/**
 * The append's CTEs after `items (seq, channel, body)`: each item chained to its channel's previous
 * event, the events stored (`stored`: their seq and prev_seq) and the channels' marks moved.
 */
function storeItems(n: SchemaNames): string {
  return `chained AS (
      SELECT it.seq, it.channel, it.body,
        coalesce(lag(it.seq) OVER (PARTITION BY it.channel ORDER BY it.seq), ch.last_seq, 0) AS prev
      FROM items it LEFT JOIN ${n.channels} ch ON ch.ns = p_ns AND ch.channel = it.channel
    ), stored AS (
      INSERT INTO ${n.events} (ns, seq, channel, body, prev_seq)
      SELECT p_ns, seq, channel, body, prev FROM chained
      RETURNING seq, prev_seq
    ), marks AS (
      INSERT INTO ${n.channels} AS ch (ns, channel, last_seq, stored)
      SELECT p_ns, channel, max(seq), count(*) FROM items GROUP BY channel
      ON CONFLICT (ns, channel) DO UPDATE SET last_seq = excluded.last_seq, stored = ch.stored + excluded.stored
    )`;
}

/**
 * An index, created only when missing. `CREATE INDEX IF NOT EXISTS` locks its table (SHARE) before
 * it finds the index there, so a process starting while another's sequencer runs (outbox, then
 * events) would lock events, then outbox: the opposite order, a deadlock. Checking first takes no lock.
 */
function index(name: string, on: string): string {
  return `DO $ix$ BEGIN
  IF to_regclass('${name}') IS NULL THEN CREATE INDEX IF NOT EXISTS ${name} ON ${on}; END IF;
END $ix$;`;
}

/** The migration's SQL for a table prefix (`ees_` by default). */
export function migrationSql(prefix = 'ees_'): string {
  const n = schemaNames(prefix);
  const stored = storeItems(n);
  return `-- express-eventstream/postgres schema (prefix ${prefix})
CREATE TABLE IF NOT EXISTS ${n.namespaces} (
  ns text PRIMARY KEY,
  epoch text NOT NULL,
  head bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ${n.channels} (
  ns text NOT NULL,
  channel text NOT NULL,
  last_seq bigint NOT NULL,
  stored bigint NOT NULL DEFAULT 0,
  trimmed_seq bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (ns, channel)
);
CREATE TABLE IF NOT EXISTS ${n.events} (
  ns text NOT NULL,
  seq bigint NOT NULL,
  channel text NOT NULL,
  body text NOT NULL,
  prev_seq bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ns, seq)
);
${index(`${n.events}_by_channel`, `${n.events} (ns, channel, seq)`)}
CREATE TABLE IF NOT EXISTS ${n.outbox} (
  id bigserial PRIMARY KEY,
  ns text NOT NULL,
  channel text NOT NULL,
  body text NOT NULL
);
${index(`${n.outbox}_by_ns`, `${n.outbox} (ns, id)`)}
-- Shared state (presence, revocations, stream status): entries expire by the database's clock.
CREATE TABLE IF NOT EXISTS ${n.state} (
  ns text NOT NULL,
  scope text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (ns, scope, key)
);
${index(`${n.state}_by_expiry`, `${n.state} (ns, scope, expires_at)`)}

-- Each append's token and seqs, committed with it: after a connection lost once the append was
-- sent, the store asks here whether it committed. Kept ten minutes (trim).
CREATE TABLE IF NOT EXISTS ${n.appends} (
  ns text NOT NULL,
  token text NOT NULL,
  first_seq bigint NOT NULL,
  last_seq bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ns, token)
);
${index(`${n.appends}_by_age`, `${n.appends} (ns, at)`)}

-- Idempotency keys: where a key's event landed, until the writer's window ends. Read and written
-- under the namespace row's lock only; the trim deletes expired rows.
CREATE TABLE IF NOT EXISTS ${n.keys} (
  ns text NOT NULL,
  key text NOT NULL,
  seq bigint NOT NULL,
  prev_seq bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (ns, key)
);
-- Not (ns, expires_at): a planner without statistics takes that one for a key's lookup too.
${index(`${n.keys}_by_expiry`, `${n.keys} (expires_at)`)}

-- Appends events in one transaction under the namespace row's lock (see above); per item: its seq,
-- its channel's previous seq, whether it repeated a key (p_keys: each item's key or null; null: no
-- keys), then wakes the listeners with '<epoch>:<head>'. p_token (not null) records the append in
-- ${n.appends}. Earlier signatures are dropped (the result gained r_dup).
DROP FUNCTION IF EXISTS ${n.append}(text, text[], text[], text);
DROP FUNCTION IF EXISTS ${n.append}(text, text[], text[], text, text);
CREATE OR REPLACE FUNCTION ${n.append}(p_ns text, p_channels text[], p_bodies text[], p_epoch text,
  p_token text, p_keys text[], p_key_window_ms bigint)
RETURNS TABLE (r_epoch text, r_seq bigint, r_prev bigint, r_dup boolean) LANGUAGE plpgsql AS $fn$
DECLARE
  v_n int := coalesce(cardinality(p_channels), 0);
  v_new int;
  v_head bigint;
  v_epoch text;
  v_fresh int[];
  v_seqs bigint[];
  v_prevs bigint[];
BEGIN
  INSERT INTO ${n.namespaces} (ns, epoch, head) VALUES (p_ns, p_epoch, 0) ON CONFLICT (ns) DO NOTHING;
  IF p_keys IS NULL THEN
    -- No keys (every publish without one, and the sequencer): every item is stored.
    UPDATE ${n.namespaces} SET head = head + v_n WHERE ns = p_ns RETURNING head, epoch INTO v_head, v_epoch;
    IF v_n = 0 THEN
      RETURN;
    END IF;
    v_new := v_n;
    RETURN QUERY
    WITH items AS (
      SELECT v_head - v_n + t.i AS seq, t.c AS channel, t.b AS body
      FROM unnest(p_channels, p_bodies) WITH ORDINALITY AS t (c, b, i)
    ), ${stored}
    SELECT v_epoch, s.seq, s.prev_seq, false FROM stored s ORDER BY s.seq;
  ELSE
    -- The lock first, then the keys: a racing append of the same key has committed it by now.
    PERFORM 1 FROM ${n.namespaces} WHERE ns = p_ns FOR NO KEY UPDATE;
    -- Stored: the items without a key, and the first of each key not seen within its window.
    -- Keys are looked up one by one (LATERAL), never all of the namespace's hashed; a key found
    -- is locked, so the trim (skipping locked rows) leaves it for the answer below.
    SELECT coalesce(array_agg(x.i ORDER BY x.i), '{}') INTO v_fresh FROM (
      SELECT t.i::int AS i, t.k, row_number() OVER (PARTITION BY t.k ORDER BY t.i) AS nth
      FROM unnest(p_keys) WITH ORDINALITY AS t (k, i)
    ) x LEFT JOIN LATERAL (SELECT 1 AS hit FROM ${n.keys} s
      WHERE x.nth = 1 AND s.ns = p_ns AND s.key = x.k AND s.expires_at > now() FOR KEY SHARE) s ON true
    WHERE x.k IS NULL OR (x.nth = 1 AND s.hit IS NULL);
    v_new := cardinality(v_fresh);
    UPDATE ${n.namespaces} SET head = head + v_new WHERE ns = p_ns RETURNING head, epoch INTO v_head, v_epoch;
    WITH items AS (
      SELECT v_head - v_new + f.j AS seq, p_channels[f.i] AS channel, p_bodies[f.i] AS body
      FROM unnest(v_fresh) WITH ORDINALITY AS f (i, j)
    ), ${stored}
    SELECT array_agg(s.seq ORDER BY s.seq), array_agg(s.prev_seq ORDER BY s.seq) INTO v_seqs, v_prevs
    FROM stored s;
  END IF;
  -- After the events, then the keys: the order a migration (a process starting) locks them in.
  IF p_token IS NOT NULL THEN
    INSERT INTO ${n.appends} (ns, token, first_seq, last_seq) VALUES (p_ns, p_token, v_head - v_new + 1, v_head);
  END IF;
  IF p_keys IS NOT NULL THEN
    INSERT INTO ${n.keys} (ns, key, seq, prev_seq, expires_at)
    SELECT p_ns, p_keys[f.i], v_seqs[f.j], v_prevs[f.j], now() + p_key_window_ms * interval '1 millisecond'
    FROM unnest(v_fresh) WITH ORDINALITY AS f (i, j) WHERE p_keys[f.i] IS NOT NULL
    ON CONFLICT (ns, key) DO UPDATE SET seq = excluded.seq, prev_seq = excluded.prev_seq, expires_at = excluded.expires_at;
    -- A duplicate answers with its key's row: the original's, or the one just written above.
    RETURN QUERY
    SELECT v_epoch, coalesce(v_seqs[f.j], s.seq), coalesce(v_prevs[f.j], s.prev_seq), f.j IS NULL
    FROM unnest(p_keys) WITH ORDINALITY AS t (k, i)
    LEFT JOIN unnest(v_fresh) WITH ORDINALITY AS f (i, j) ON f.i = t.i
    LEFT JOIN LATERAL (SELECT s.seq, s.prev_seq FROM ${n.keys} s
      WHERE f.j IS NULL AND s.ns = p_ns AND s.key = t.k LIMIT 1) s ON true
    ORDER BY t.i;
  END IF;
  -- The payload, '<epoch>:<head>', lets a process that has read that far skip the read.
  IF v_new > 0 THEN
    PERFORM pg_notify('${prefix}' || p_ns, v_epoch || ':' || v_head);
  END IF;
END
$fn$;

-- The sequencer: moves up to p_limit committed outbox rows of a namespace into the log, in
-- outbox order, in one transaction. Whoever holds the advisory lock does it; the others skip
-- (-1): the holder is woken by the same notification and runs again.
CREATE OR REPLACE FUNCTION ${n.sequence}(p_ns text, p_epoch text, p_limit int)
RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  v_channels text[];
  v_bodies text[];
BEGIN
  IF NOT pg_try_advisory_xact_lock(${LOCK_CLASS}, hashtext('${prefix}' || p_ns)) THEN
    RETURN -1;
  END IF;
  WITH taken AS (
    DELETE FROM ${n.outbox} WHERE id IN (
      SELECT id FROM ${n.outbox} WHERE ns = p_ns ORDER BY id LIMIT p_limit
    ) RETURNING id, channel, body
  )
  SELECT array_agg(channel ORDER BY id), array_agg(body ORDER BY id) INTO v_channels, v_bodies FROM taken;
  IF v_channels IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM ${n.append}(p_ns, v_channels, v_bodies, p_epoch, NULL, NULL, 0);
  RETURN cardinality(v_channels);
END
$fn$;

${trimFunctionSql(n)}`;
}
