// Serving a session this process did not initialize. The SDK's transport accepts a session id only
// after it handled that session's `initialize` itself (`validateSession`: `_initialized`, and the
// id its `sessionIdGenerator` returned), and the MCP server keeps the client's capabilities and
// version from it. So adoption replays the client's initialize, from the registry, through the
// transport's public `handleRequest`, followed by `notifications/initialized`: the transport and
// the server end up exactly as on the process that met the client, with no private field touched.
import { McpResumeError } from './errors.js';
import { assertSessionId } from './records.js';
import type { McpSessionRecord } from './sessions.js';

/**
 * What adoption needs of a transport: the SDK's `WebStandardStreamableHTTPServerTransport`
 * (connected to its server, `sessionIdGenerator: () => session`).
 */
export interface FetchStyleMcpTransport {
  handleRequest(request: Request): Promise<Response>;
}

// Only the transport reads this URL (`requestInfo.url`); it is never fetched.
const ADOPTION_URL = 'http://mcp-session-adoption.invalid/';

/**
 * Brings a fresh transport (and the server connected to it) into `session` as the client's
 * `initialize` left it elsewhere. Resolves once both requests were handled; rejects with
 * `McpResumeError` naming the status when the transport refused one.
 */
export async function adoptSession(
  transport: FetchStyleMcpTransport,
  session: string,
  record: McpSessionRecord,
): Promise<void> {
  assertSessionId(session);
  const headers = {
    accept: 'application/json, text/event-stream',
    'content-type': 'application/json',
  };
  const initialize = {
    jsonrpc: '2.0',
    // A request id no client shares: the result goes to the adoption, not to the client.
    id: `adopt-${session}`,
    method: 'initialize',
    params: record,
  };
  const init = await transport.handleRequest(
    new Request(ADOPTION_URL, { method: 'POST', headers, body: JSON.stringify(initialize) }),
  );
  // The answer (an SSE stream with the result, or JSON) is read to its end: the server's reply is
  // written before the transport releases the request.
  const text = await init.text();
  if (init.status !== 200 || init.headers.get('mcp-session-id') !== session) {
    throw new McpResumeError(
      'invalid-argument',
      `the transport refused the replayed initialize: ${init.status} ${text.slice(0, 200)}`,
      session,
    );
  }
  const initialized = await transport.handleRequest(
    new Request(ADOPTION_URL, {
      method: 'POST',
      headers: { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': record.protocolVersion },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    }),
  );
  await initialized.body?.cancel();
  if (initialized.status !== 202) {
    throw new McpResumeError(
      'invalid-argument',
      `the transport refused notifications/initialized: ${initialized.status}`,
      session,
    );
  }
}
