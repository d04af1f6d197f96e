// The SDK's own client against a server URL, recording what reaches it: every JSON-RPC message
// the transport hands the client, each progress value, and the errors it reports.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface RecordingClient {
  readonly client: Client;
  readonly transport: StreamableHTTPClientTransport;
  readonly messages: JSONRPCMessage[];
  readonly errors: string[];
  /** Calls `count` and records its progress values in `progress`. */
  count(n: number, gate: boolean, progress: number[]): Promise<unknown>;
  close(): Promise<void>;
}

export async function connectClient(url: string): Promise<RecordingClient> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    // Reconnect quickly and keep trying: a balancer's failover and a lease take a few seconds.
    reconnectionOptions: {
      initialReconnectionDelay: 100,
      maxReconnectionDelay: 1_000,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 60,
    },
  });
  const client = new Client({ name: 'resume-test', version: '1.0.0' });
  const errors: string[] = [];
  client.onerror = (err) => errors.push(err.message);
  await client.connect(transport);
  const messages: JSONRPCMessage[] = [];
  const deliver = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage) => {
    messages.push(message);
    deliver?.(message);
  };
  return {
    client,
    transport,
    messages,
    errors,
    count(n, gate, progress) {
      return client.callTool({ name: 'count', arguments: { n, gate } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
        timeout: 120_000,
      });
    },
    close: () => client.close(),
  };
}

/** The results among `messages` whose text is `text`. */
export function resultsSaying(messages: readonly JSONRPCMessage[], text: string): number {
  return messages.filter((m) => JSON.stringify((m as { result?: unknown }).result ?? null).includes(text))
    .length;
}
