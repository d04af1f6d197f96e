// The bodies a GRIP proxy gets from us instead of a stream: before a hold, the preamble,
// `stream-open` and any replay after Last-Event-ID; on a reliable-mode recovery fetch, what follows
// each channel's last id. Read from the history like a direct stream's replay and counted the same
// way (stats, `replay`/`reset`/`storeError` diagnostics) through the subscriber side.
import { encodeStreamOpen } from '../base/encoder.js';
import { NoHistoryError } from '../base/errors.js';
import { frozen, type Subscriptions } from '../core/subscription.js';
import type { EventStore } from '../engine/store.js';
import { planRecovery } from '../history/recovery.js';
import { planResume } from '../history/resume.js';
import type { Endpoint } from '../protocol/decision.js';

/** What counts a body's replay, resets and read failures: the subscriber side. */
type Counting = Pick<Subscriptions, 'countReplay' | 'countReset' | 'readFailed'>;

/** The decision's `Endpoint.history`: hold and recovery bodies from `store` (none without one). */
export function holdBodies(store: EventStore | undefined, counting: Counting): Endpoint['history'] {
  return {
    async initial(channels, preamble, lastEventId) {
      if (store === undefined) return { text: preamble + encodeStreamOpen(undefined), lastIds: undefined };
      // The decision's list also names the hold's channels after this: messages get it frozen.
      channels = frozen(channels);
      const plan = await planResume(store, channels, lastEventId).catch((cause: unknown) => {
        throw counting.readFailed(cause);
      });
      if (plan.reset !== undefined) counting.countReset(plan.reset.channels, plan.reset.reason, 'grip-hold');
      counting.countReplay(plan.replayed, channels, lastEventId, 'grip-hold', plan.reset !== undefined);
      return { text: preamble + plan.text, lastIds: plan.lastIds };
    },
    async recovery(channels, positions) {
      if (store === undefined) throw new NoHistoryError();
      return planRecovery(store, channels, positions).catch((cause: unknown) => {
        throw counting.readFailed(cause);
      });
    },
  };
}
