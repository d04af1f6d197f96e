// `npm run example:orders-postgres`: an order API whose events commit with the order.
//
// POST /orders {"item": "…", "quantity": n} inserts the order row AND publishes its `created`
// event in ONE transaction (`publishIn`): the event reaches subscribers only if, and after, the
// order is committed. When the transaction fails (here: the stock check, a CHECK constraint, runs
// after the event was written), it rolls back and no client ever sees that order: no event, and
// no hole in the ids either. There is no outbox service to run: the engine's sequencer moves
// committed events into the shared history, in commit order.
//
//   GET  /orders/events        the order events (SSE; resume with Last-Event-ID on any process)
//   POST /orders               {"item", "quantity"} → 201 {order} | 409 {error} (out of stock)
//   GET  /orders               the committed orders
//
//   DATABASE_URL  postgres://… (required): the app's own database; the engine's tables are created
//                 there on first use (prefix `ees_`), next to the app's `orders` and `stock`
//   PORT, HOST    where to listen (default 127.0.0.1:3004; PORT=0 picks a free port)
//
//   curl -N localhost:3004/orders/events &
//   curl -X POST localhost:3004/orders -H 'content-type: application/json' -d '{"item":"tea","quantity":2}'
import express from 'express';
import { events as createEvents, express as eventstream } from 'express-eventstream';
import { postgres } from 'express-eventstream/postgres';
import pg from 'pg';
import { runExample } from '../shared/serve.mjs';

if (!process.env.DATABASE_URL) {
  console.error('DATABASE_URL is required, e.g. postgres://postgres@127.0.0.1:5432/postgres');
  process.exit(1);
}

// The app's own pool and tables. The engine gets the same pool: one set of connections.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
pool.on('error', (err) => console.error(`database: ${err.message}`));
await pool.query(`
  CREATE TABLE IF NOT EXISTS stock (item text PRIMARY KEY, available int NOT NULL CHECK (available >= 0));
  CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    item text NOT NULL REFERENCES stock (item),
    quantity int NOT NULL CHECK (quantity > 0),
    created_at timestamptz NOT NULL DEFAULT now()
  );
  INSERT INTO stock (item, available) VALUES ('tea', 100), ('coffee', 100), ('cocoa', 3)
  ON CONFLICT (item) DO NOTHING;`);

const engine = postgres({ pool, namespace: 'orders' });
const events = createEvents({ ...engine });
events.on('error', (err) => console.error(`events: ${err.message}`));

/** Runs `work(client)` in a transaction: COMMIT when it resolves, ROLLBACK when it throws. */
async function inTransaction(work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

const app = express();
app.disable('x-powered-by');
app.get('/orders/events', eventstream({ events, channels: () => ['orders'] }));
app.get('/orders', async (_req, res) => {
  const r = await pool.query('SELECT id, item, quantity FROM orders ORDER BY id');
  res.json(r.rows.map((o) => ({ ...o, id: Number(o.id) })));
});
app.post('/orders', express.json(), async (req, res) => {
  const { item, quantity } = req.body ?? {};
  if (typeof item !== 'string' || !Number.isInteger(quantity) || quantity < 1) {
    res.status(400).json({ error: 'expected {"item": string, "quantity": positive integer}' });
    return;
  }
  try {
    const order = await inTransaction(async (tx) => {
      const r = await tx.query(
        'INSERT INTO orders (item, quantity) VALUES ($1, $2) RETURNING id, item, quantity',
        [item, quantity],
      );
      const created = { ...r.rows[0], id: Number(r.rows[0].id) };
      // Written with the order, delivered only once the transaction commits.
      await engine.history.publishIn(tx, 'orders', { event: 'created', data: created });
      // The stock check comes last on purpose: when it fails, the event above is rolled back too.
      await tx.query('UPDATE stock SET available = available - $2 WHERE item = $1', [item, quantity]);
      return created;
    });
    res.status(201).json(order);
  } catch (err) {
    // 23514: the CHECK on stock.available; 23503: an unknown item.
    if (err.code === '23514' || err.code === '23503') {
      res.status(409).json({ error: err.code === '23514' ? 'out of stock' : 'unknown item' });
    } else {
      console.error(`order failed: ${err.message}`);
      res.status(500).json({ error: 'the order could not be stored' });
    }
  }
});

await runExample(app, {
  name: 'orders-postgres example',
  defaultPort: 3004,
  onClose: async () => {
    await events.close();
    await pool.end();
  },
});
