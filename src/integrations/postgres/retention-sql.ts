// The retention function of the Postgres engine's migration (see schema.ts): one short batch of
// deletes per call, so a trim never holds the tables for long and appends go on between batches.
import { STREAM_CHANNEL_EVENTS, STREAM_CHANNEL_PREFIX } from '../../base/stream-limits.js';

/** The tables and the function name the trim uses (a subset of the schema's names). */
interface TrimNames {
  readonly trim: string;
  readonly events: string;
  readonly channels: string;
  readonly appends: string;
  readonly keys: string;
}

/** `CREATE OR REPLACE FUNCTION <prefix>trim(…)`, part of the migration. */
export function trimFunctionSql(n: TrimNames): string {
  return `-- Retention, one short batch per call: events older than p_max_age_ms (0: no age limit), then
-- each channel's events beyond its newest p_max_per_channel (a response stream's channel, beyond
-- its own bound: its producer limits it); marks how far each channel was trimmed (readers report
-- a gap past it); then expired idempotency keys. Returns how many event and key rows it deleted.
CREATE OR REPLACE FUNCTION ${n.trim}(p_ns text, p_max_per_channel bigint, p_max_age_ms bigint, p_batch int)
RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  v_deleted int := 0;
  v_rows int;
  v_ch record;
BEGIN
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
  -- The append's tables in the append's order (events, appends, keys): no deadlock with it or
  -- with a migration. Keys locked by an append are skipped (taken next time), never waited for.
  DELETE FROM ${n.appends} WHERE ns = p_ns AND at < now() - interval '10 minutes';
  WITH gone AS (
    DELETE FROM ${n.keys} WHERE ns = p_ns AND key IN (
      SELECT key FROM ${n.keys} WHERE ns = p_ns AND expires_at < now() LIMIT p_batch FOR UPDATE SKIP LOCKED
    ) RETURNING 1
  )
  SELECT count(*) INTO v_rows FROM gone;
  RETURN v_deleted + v_rows;
END
$fn$;
`;
}
