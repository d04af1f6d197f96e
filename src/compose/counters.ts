// The counters behind `stats()` (the gauges, connections and subscribers, are read from the hub).
import type { EventsStats } from '../base/types.js';

export type Counters = Omit<EventsStats, 'connections' | 'subscribers'>;

export function zeroCounters(): Counters {
  return {
    connectionsOpened: 0,
    eventsPublished: 0,
    eventsDelivered: 0,
    bytesDelivered: 0,
    slowClientsDropped: 0,
    publishErrors: 0,
    eventsReplayed: 0,
    streamResets: 0,
  };
}
