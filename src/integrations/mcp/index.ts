// express-eventstream/mcp: resumable MCP servers on the SDK's Streamable HTTP transport
// (`@modelcontextprotocol/sdk`, an optional peer; only its behaviour is relied on, no import).
// `mcpEventStore()` keeps each session's events in the namespace's history (memory, Redis,
// Postgres), so a client resumes with its Last-Event-ID on any process; `mcpSessions()` and
// `adoptSession()` let a process serve a session another one initialized, once that one is gone.
export { adoptSession, type FetchStyleMcpTransport } from './adopt.js';
export { type McpErrorReason, McpResumeError } from './errors.js';
export { McpEventStore, type McpEventStoreOptions, mcpEventStore } from './event-store.js';
export type { McpMessage } from './records.js';
export { type McpSessionRecord, McpSessions, type McpSessionsOptions, mcpSessions } from './sessions.js';
