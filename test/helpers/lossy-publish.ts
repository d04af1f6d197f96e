// Pushpin's publish API behind a forwarder that can drop chosen events: as if an origin's publish
// to the proxy had been lost, or the origin had died right after storing the event.
import http from 'node:http';
import { startServer, type TestServer } from './server.js';

/** The data of a published item's SSE text (`data: <n>`), or undefined. */
function itemData(item: { formats?: { 'http-stream'?: { content?: string } } }): string | undefined {
  return /^data: (.*)$/m.exec(item.formats?.['http-stream']?.content ?? '')?.[1];
}

/** Pushpin's publish API behind a forwarder that drops items whose data is in `withheld`. */
export async function lossyPublishPath(
  publishPort: () => number,
  cleanups: Array<() => Promise<void> | void>,
): Promise<{
  server: TestServer;
  withheld: Set<string>;
}> {
  const withheld = new Set<string>();
  const server = await startServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const parsed = JSON.parse(body) as { items: Array<Parameters<typeof itemData>[0]> };
      const items = parsed.items.filter((item) => !withheld.has(itemData(item) ?? ''));
      if (items.length === 0) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('Published\n');
        return;
      }
      const out = http.request(
        `http://127.0.0.1:${publishPort()}${req.url}`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false },
        (upstream) => {
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          upstream.pipe(res);
        },
      );
      out.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      out.end(JSON.stringify({ ...parsed, items }));
    });
  });
  cleanups.push(() => server.close());
  return { server, withheld };
}
