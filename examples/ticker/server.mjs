// `npm run example:ticker`: a price ticker. Every price goes on one channel, `prices`; each
// subscriber names the symbols it wants in the request and gets only those (a per-subscriber
// filter: subscribers asking for the same symbols share one evaluation per event). A subscriber
// that cannot keep up is not cut off: the channel conflates per symbol, so when it reads again it
// gets a `stream-missed` count, then the latest price of each symbol, in order of last change.
//
//   GET  /prices?symbols=ACME,HOOLI  the prices of those symbols (SSE; all of them without
//                                    `symbols`); an unknown symbol is answered 400
//   GET  /quotes                     the latest price of every symbol (a page's first state)
//
//   PORT, HOST        where to listen (default 127.0.0.1:3005; PORT=0 picks a free one)
//   RATE              prices published per second (default 200; 0: none)
//   MAX_BUFFER_BYTES  how far a subscriber may fall behind before it is conflated (default 64 KiB)
//   EXAMPLE_TEST_HOOKS=1 adds POST /test/burst?count=<n>: publishes n prices at once and answers
//                    the quotes after them (the test uses it)
//
//   curl -N 'localhost:3005/prices?symbols=ACME'
import express from 'express';
import { events as createEvents, express as eventstream } from 'express-eventstream';
import { intFromEnv, runExample } from '../shared/serve.mjs';

const SYMBOLS = ['ACME', 'GLOBEX', 'HOOLI', 'INITECH', 'UMBRELLA'];
const RATE = intFromEnv('RATE', 200, { max: 10_000 });

// A ticker wants the next price, not a replay: no history. Conflation is by the event's symbol.
const events = createEvents({
  history: false,
  maxBufferBytes: intFromEnv('MAX_BUFFER_BYTES', 64 * 1024, { min: 1024 }),
  overload: { channels: { prices: { conflate: (event) => event.json()?.symbol } } },
});
events.on('error', (err) => console.error(`events: ${err.message}`));

// --- The feed: a random walk per symbol ---------------------------------------------------------
const quotes = Object.fromEntries(SYMBOLS.map((symbol) => [symbol, { symbol, price: 100, seq: 0 }]));
let seq = 0;
function tick() {
  const symbol = SYMBOLS[Math.floor(Math.random() * SYMBOLS.length)];
  const previous = quotes[symbol].price;
  const price = Math.max(0.01, Math.round((previous + (Math.random() - 0.5) * 2) * 100) / 100);
  const quote = { symbol, price, seq: ++seq };
  quotes[symbol] = quote;
  events.publish('prices', { event: 'price', data: quote }).catch(() => {});
}
let feed;
if (RATE > 0) {
  // At most 50 timer ticks a second, each publishing its share of the rate.
  const ticks = Math.min(RATE, 50);
  feed = setInterval(() => {
    for (let i = 0; i < Math.round(RATE / ticks); i++) tick();
  }, 1000 / ticks);
}

// --- HTTP ---------------------------------------------------------------------------------------
/** The symbols a request asks for (all without `symbols`); undefined when one is unknown. */
function symbolsOf(req) {
  const given = new URL(req.url ?? '/', 'http://x').searchParams.get('symbols');
  if (given === null || given === '') return SYMBOLS;
  const wanted = [...new Set(given.split(','))].sort();
  return wanted.every((s) => SYMBOLS.includes(s)) ? wanted : undefined;
}

const app = express();
app.disable('x-powered-by');
app.get(
  '/prices',
  (req, res, next) => {
    if (symbolsOf(req) === undefined)
      res.status(400).json({ error: `symbols are some of ${SYMBOLS.join(',')}` });
    else next();
  },
  eventstream({
    events,
    channels: () => ['prices'],
    filter: (req) => {
      const wanted = new Set(symbolsOf(req));
      // The key names the filter: every subscriber of the same symbols shares one `match` per event.
      return { key: [...wanted].join(','), match: (event) => wanted.has(event.json()?.symbol) };
    },
  }),
);
app.get('/quotes', (_req, res) => res.json(quotes));
if (process.env.EXAMPLE_TEST_HOOKS === '1') {
  app.post('/test/burst', async (req, res) => {
    const count = Number(req.query.count);
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
      res.status(400).json({ error: 'count must be an integer from 1 to 1000000' });
      return;
    }
    // 500 a turn of the event loop: each turn is one batch, as a busy feed gives.
    for (let i = 0; i < count; i++) {
      tick();
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
    }
    res.json(quotes);
  });
}

await runExample(app, {
  name: 'ticker example',
  defaultPort: 3005,
  onClose: async () => {
    clearInterval(feed);
    await events.close();
  },
});
