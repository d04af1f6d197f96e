// examples/ticker as `npm run example:ticker` runs it (no feed timer: RATE=0; the prices come from
// its test hook in bursts): each subscriber gets only the symbols it asked for, and one that stops
// reading stays connected and, reading again, gets a `stream-missed` count and then the latest
// price of every symbol.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, request, type SseClient } from '../helpers/sse-client.js';
import { type ExampleProcess, startExample } from './example-process.js';

type Quote = { symbol: string; price: number; seq: number };
const SYMBOLS = ['ACME', 'GLOBEX', 'HOOLI', 'INITECH', 'UMBRELLA'];

let app: ExampleProcess;
const clients: SseClient[] = [];
beforeAll(async () => {
  app = await startExample('ticker', { RATE: '0', MAX_BUFFER_BYTES: '16384', EXAMPLE_TEST_HOOKS: '1' });
});
afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  await app?.stop();
});

async function subscribe(query: string): Promise<SseClient> {
  const c = await connect(`${app.url}prices${query}`);
  clients.push(c);
  await c.waitFor((x) => x.named('stream-open').length === 1, 15_000, 'stream-open');
  return c;
}

const prices = (c: SseClient): Quote[] => c.named('price').map((e) => JSON.parse(e.data) as Quote);
/** The client's latest price of each symbol it got. */
function latest(c: SseClient): Record<string, Quote> {
  const last: Record<string, Quote> = {};
  for (const q of prices(c)) last[q.symbol] = q;
  return last;
}
const pick = (quotes: Record<string, Quote>, symbols: string[]) =>
  Object.fromEntries(symbols.map((s) => [s, quotes[s]]));

describe('examples/ticker', () => {
  it('refuses an unknown symbol', async () => {
    const res = await request(`${app.url}prices?symbols=ACME,NOPE`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(400);
  });

  it('filters per subscriber and conflates per symbol for a subscriber that stopped reading', async () => {
    const acme = await subscribe('?symbols=ACME');
    const pair = await subscribe('?symbols=HOOLI,ACME');
    const slow = await subscribe('');
    slow.pause();
    // Many prices, 500 per batch: far more than the stalled client's kernel buffers and its bound.
    const quotes = (await (
      await fetch(`${app.url}test/burst?count=200000`, { method: 'POST' })
    ).json()) as Record<string, Quote>;
    expect(await (await fetch(`${app.url}quotes`)).json()).toEqual(quotes);

    // The filtered subscribers: only their symbols, in publish order, up to the latest price.
    await acme.waitFor((c) => latest(c).ACME?.seq === quotes.ACME!.seq, 60_000, 'the latest ACME price');
    await pair.waitFor(
      (c) => latest(c).ACME?.seq === quotes.ACME!.seq && latest(c).HOOLI?.seq === quotes.HOOLI!.seq,
      60_000,
      'the latest ACME and HOOLI prices',
    );
    expect(new Set(prices(acme).map((q) => q.symbol))).toEqual(new Set(['ACME']));
    expect(new Set(prices(pair).map((q) => q.symbol))).toEqual(new Set(['ACME', 'HOOLI']));
    for (const c of [acme, pair]) {
      const seqs = prices(c).map((q) => q.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }

    // The stalled subscriber was kept; reading again it gets what it missed conflated per symbol.
    slow.resume();
    await slow.waitFor(
      (c) => SYMBOLS.every((s) => latest(c)[s]?.seq === quotes[s]!.seq),
      60_000,
      'the latest price of every symbol',
    );
    expect(latest(slow)).toEqual(pick(quotes, SYMBOLS));
    const notices = slow
      .named('stream-missed')
      .map((e) => JSON.parse(e.data) as { missed: number; conflated: number });
    expect(notices.length).toBeGreaterThan(0);
    expect(notices.reduce((sum, m) => sum + m.conflated, 0)).toBeGreaterThan(0);
    // Five symbols always fit in the bound: replaced by a later price, never lost.
    expect(notices.every((m) => m.missed === 0)).toBe(true);
    const got = prices(slow).map((q) => q.seq);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got.length + notices.reduce((sum, m) => sum + m.conflated, 0)).toBe(200_000);
    expect(slow.ended).toBe(false);
  }, 180_000);
});
