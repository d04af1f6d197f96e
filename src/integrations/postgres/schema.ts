// The one migration of the Postgres engine: six tables and three functions, every name starting
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
import { STREAM_CHANNEL_EVENTS, STREAM_CHANNEL_PREFIX } from '../../base/stream-limits.js';

/** Names of the engine's tables and functions for a prefix. */
export interface SchemaNames {
  readonly namespaces: string;
  readonly channels: string;
  readonly events: string;
  readonly outbox: string;
  readonly state: string;
  readonly appends: string;
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
    append: `${prefix}append`,
    sequence: `${prefix}sequence`,
    trim: `${prefix}trim`,
  };
}

/** The advisory lock key (first half) of the migration and of the sequencer: 'ees' in ASCII. */
export const LOCK_CLASS = 0x656573;

/** The migration's SQL for a table prefix (`ees_` by default). */
export function migrationSql(prefix = 'ees_'): string {
  const n = schemaNames(prefix);
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
CREATE INDEX IF NOT EXISTS ${n.events}_by_channel ON ${n.events} (ns, channel, seq);
CREATE TABLE IF NOT EXISTS ${n.outbox} (
  id bigserial PRIMARY KEY,
  ns text NOT NULL,
  channel text NOT NULL,
  body text NOT NULL
);
CREATE INDEX IF NOT EXISTS ${n.outbox}_by_ns ON ${n.outbox} (ns, id);
-- Shared state (presence, revocations, stream status): entries expire by the database's clock.
CREATE TABLE IF NOT EXISTS ${n.state} (
  ns text NOT NULL,
  scope text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (ns, scope, key)
);
CREATE INDEX IF NOT EXISTS ${n.state}_by_expiry ON ${n.state} (ns, scope, expires_at);

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
CREATE INDEX IF NOT EXISTS ${n.appends}_by_age ON ${n.appends} (ns, at);

-- Appends events in one transaction under the namespace row's lock (see above); returns each
-- event's seq and the seq of the previous event on its channel, and wakes the listeners with
-- the epoch and the new head. p_token (when not null) records the append in ${n.appends}.
DROP FUNCTION IF EXISTS ${n.append}(text, text[], text[], text);
CREATE OR REPLACE FUNCTION ${n.append}(p_ns text, p_channels text[], p_bodies text[], p_epoch text, p_token text)
RETURNS TABLE (r_epoch text, r_seq bigint, r_prev bigint) LANGUAGE plpgsql AS $fn$
DECLARE
  v_n int := coalesce(cardinality(p_channels), 0);
  v_head bigint;
  v_epoch text;
BEGIN
  INSERT INTO ${n.namespaces} (ns, epoch, head) VALUES (p_ns, p_epoch, 0) ON CONFLICT (ns) DO NOTHING;
  UPDATE ${n.namespaces} SET head = head + v_n WHERE ns = p_ns RETURNING head, epoch INTO v_head, v_epoch;
  IF v_n = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH items AS (
    SELECT v_head - v_n + t.i AS seq, t.c AS channel, t.b AS body
    FROM unnest(p_channels, p_bodies) WITH ORDINALITY AS t (c, b, i)
  ), chained AS (
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
  )
  SELECT v_epoch, s.seq, s.prev_seq FROM stored s ORDER BY s.seq;
  -- After the events: a migration (another process starting) locks the events table before this
  -- one; taking them in the other order could deadlock with it.
  IF p_token IS NOT NULL THEN
    INSERT INTO ${n.appends} (ns, token, first_seq, last_seq) VALUES (p_ns, p_token, v_head - v_n + 1, v_head);
  END IF;
  -- The payload, '<epoch>:<head>', lets a process that has read that far skip the read.
  PERFORM pg_notify('${prefix}' || p_ns, v_epoch || ':' || v_head);
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
  PERFORM ${n.append}(p_ns, v_channels, v_bodies, p_epoch, NULL);
  RETURN cardinality(v_channels);
END
$fn$;

-- Retention, one short batch per call: events older than p_max_age_ms (0: no age limit), then
-- each channel's events beyond its newest p_max_per_channel (a response stream's channel, beyond
-- its own bound: its producer limits it); marks how far each channel was
-- trimmed (readers report a gap past it). Returns how many rows it deleted.
CREATE OR REPLACE FUNCTION ${n.trim}(p_ns text, p_max_per_channel bigint, p_max_age_ms bigint, p_batch int)
RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  v_deleted int := 0;
  v_rows int;
  v_ch record;
BEGIN
  DELETE FROM ${n.appends} WHERE ns = p_ns AND at < now() - interval '10 minutes';
  IF p_max_age_ms > 0 THEN
    WITH gone AS (
      DELETE FROM ${n.events} WHERE ns = p_ns AND seq IN (
        SELECT seq FROM ${n.events} WHERE ns = p_ns ORDER BY seq LIMIT p_batch
      ) AND at < now() - p_max_age_ms * interval '1 millisecond'
      RETURNING channel, seq
    ), per AS (SELECT channel, max(seq) AS upto, count(*) AS k FROM gone GROUP BY channel
    ), marked AS (
      UPDATE ${n.channels} ch SET trimmed_seq = greatest(ch.trimmed_seq, per.upto), stored = ch.stored - per.k
      FROM per WHERE ch.ns = p_ns AND ch.channel = per.channel RETURNING 1
    )
    SELECT coalesce(sum(k), 0) INTO v_rows FROM per;
    v_deleted := v_deleted + v_rows;
  END IF;
  FOR v_ch IN
    SELECT channel, stored - lim AS excess FROM (
      SELECT channel, stored, CASE WHEN left(channel, ${STREAM_CHANNEL_PREFIX.length}) = '${STREAM_CHANNEL_PREFIX}'
        THEN ${STREAM_CHANNEL_EVENTS} ELSE p_max_per_channel END AS lim
      FROM ${n.channels} WHERE ns = p_ns AND stored > p_max_per_channel
    ) c WHERE stored > lim LIMIT 100
  LOOP
    WITH gone AS (
      DELETE FROM ${n.events} WHERE ns = p_ns AND seq IN (
        SELECT seq FROM ${n.events} WHERE ns = p_ns AND channel = v_ch.channel
        ORDER BY seq LIMIT least(v_ch.excess, p_batch)
      ) RETURNING seq
    ), per AS (SELECT max(seq) AS upto, count(*) AS k FROM gone
    ), marked AS (
      UPDATE ${n.channels} ch SET trimmed_seq = greatest(ch.trimmed_seq, per.upto), stored = ch.stored - per.k
      FROM per WHERE ch.ns = p_ns AND ch.channel = v_ch.channel AND per.k > 0 RETURNING 1
    )
    SELECT coalesce(sum(k), 0) INTO v_rows FROM per;
    v_deleted := v_deleted + v_rows;
  END LOOP;
  RETURN v_deleted;
END
$fn$;
`;
}
