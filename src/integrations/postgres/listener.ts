// The bus' LISTEN connection: one dedicated connection (not from the pool: a pooled connection
// would lose its LISTEN when released) that turns notifications into wake-ups. Notifications carry
// nothing that matters, so losing some is harmless: after any reconnect the owner is told
// (`ready`) and reads what it missed from the table. Reconnects back off from 50 ms to 1 s.
import pg from 'pg';

export interface ListenerEvents {
  /** A notification on one of the channels, with its payload (foreign text: check it before use). */
  wake(channel: string, payload: string): void;
  /** LISTEN is in place (first connect or a reconnect): anything may have been missed. */
  ready(): void;
  /** The connection failed or could not be made; it keeps trying. */
  down(error: Error): void;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

/** An identifier in double quotes (the channel names are checked, this is belt and braces). */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export class Listener {
  readonly #config: pg.ClientConfig;
  readonly #channels: readonly string[];
  readonly #events: ListenerEvents;
  #client: pg.Client | undefined;
  #backoff = MIN_BACKOFF_MS;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Whether LISTEN is in place now. */
  up = false;
  /** The backend pid of the current connection (what `pg_terminate_backend` takes). */
  pid: number | undefined;

  constructor(config: pg.ClientConfig, channels: readonly string[], events: ListenerEvents) {
    this.#config = config;
    this.#channels = channels;
    this.#events = events;
  }

  start(): void {
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed || this.#closed) return;
      failed = true;
      this.up = false;
      this.pid = undefined;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      this.#events.down(err instanceof Error ? err : new Error(String(err)));
      this.#timer = setTimeout(() => void this.#connect(), this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('the LISTEN connection ended')));
    client.on('notification', (msg) => this.#events.wake(msg.channel, msg.payload ?? ''));
    try {
      await client.connect();
      const r = await client.query(
        `${this.#channels.map((c) => `LISTEN ${quoteIdent(c)};`).join(' ')} SELECT pg_backend_pid() AS pid`,
      );
      if (this.#closed) {
        await client.end().catch(() => {});
        return;
      }
      const results = Array.isArray(r) ? r : [r];
      this.pid = Number(results[results.length - 1]?.rows[0]?.pid);
      this.up = true;
      this.#backoff = MIN_BACKOFF_MS;
      this.#events.ready();
    } catch (err) {
      fail(err);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.up = false;
    await this.#client?.end().catch(() => {});
  }
}
