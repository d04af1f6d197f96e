// Chats whose answers survive a reload: each generation is a response stream (its id the chat id
// plus a random suffix: ids are one per generation), and the shared state says which generation a
// chat is on, so the resume request — on any process — finds it by the chat id alone, as
// `DefaultChatTransport` asks for it (`GET {api}/{chatId}/stream`).
import {
  Events,
  InvalidOptionError,
  ResponseStreamError,
  type ResponseStreamOptions,
  type StreamPiece,
} from 'express-eventstream';
import { eventsProtocolOf, type PackageInternals, packageInternals } from '../../compose/internal-key.js';
import { teeInto } from './sse-tee.js';

/** Options of `resumableChats()`. */
export interface ResumableChatsOptions {
  /** The Events object whose history (memory, Redis, Postgres) keeps the answers. */
  events: Events;
  /** How long (ms) a generation stays resumable after it ends. Default 600,000 (10 min). */
  retainMs?: number;
  /** How often (ms) the producer's heartbeat is refreshed (readers declare it lost after 5 missed). Default 1,000. */
  heartbeatMs?: number;
  /**
   * What a resume request gets once the answer is complete: `false` (default) a 204, as the SDK
   * expects when the app saved the finished message; `true` the whole answer again while retained.
   */
  replayFinished?: boolean;
}

/** One generation: pass `signal` to `streamText()` and `consumeSseStream` to the response. */
export interface ChatGeneration {
  /** The response stream's id (`<chatId>.<suffix>`). */
  readonly streamId: string;
  /**
   * Aborted when a client asks to stop this generation (on any process), when storing it failed or
   * the namespace closed; never on a disconnect. Its reason is named `AbortError` (see `ResponseStream.signal`).
   */
  readonly signal: AbortSignal;
  /** For `toUIMessageStreamResponse({ consumeSseStream })`: stores the copy of the stream. */
  readonly consumeSseStream: (options: { stream: ReadableStream<string> }) => void;
  /** Settles once the whole answer is stored (or the stream ended otherwise). */
  readonly stored: Promise<void>;
}

/** What a resume request gets: nothing to resume (204), or the SSE text of the answer. */
export type ChatResume =
  | { readonly status: 204 }
  | { readonly status: 200; readonly body: AsyncIterable<string> };

const SCOPE = 'ai-chat';
/**
 * The reason of a stop as the SDK's `abort` chunk carries it: the message of the core's abort
 * reason (`ResponseStreamError`, problem `stopped`), which a resume renders again.
 */
const stoppedReason = (streamId: string) =>
  `response stream ${JSON.stringify(streamId)}: a client stopped this stream`;
const CHAT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$/;

export class ResumableChats {
  readonly #events: Events;
  readonly #streamOptions: ResponseStreamOptions;
  readonly #keepMs: number;
  readonly #replayFinished: boolean;

  constructor(options: ResumableChatsOptions) {
    const checks: PackageInternals['checks'] = packageInternals(Events).checks;
    checks.assertObject(options, 'options', 'resumableChats options');
    checks.assertKnownKeys(options, ['events', 'retainMs', 'heartbeatMs', 'replayFinished']);
    if (eventsProtocolOf(options.events) !== 'compatible') {
      throw new InvalidOptionError('events', 'options.events must be an Events object created with events()');
    }
    this.#events = options.events;
    const retainMs = checks.durationOption('retainMs', options.retainMs, 600_000, {
      min: 1,
      max: 86_400_000,
    });
    const heartbeatMs = checks.durationOption('heartbeatMs', options.heartbeatMs, 1000, {
      min: 10,
      max: 3_600_000,
    });
    this.#streamOptions = { retainMs, heartbeatMs };
    // The chat's entry outlives the stream's retention a little: a resume then finds it expired.
    this.#keepMs = Math.min(retainMs + 60_000, 86_400_000);
    this.#replayFinished = options.replayFinished === true;
  }

  /** Start a generation of chat `chatId` (the chat's previous one, if any, is no longer resumed). */
  start(chatId: string): ChatGeneration {
    assertChatId(chatId);
    const streamId = `${chatId}.${globalThis.crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const stream = this.#events.stream(streamId, this.#streamOptions);
    const { state } = this.#internals();
    const entry = (done: boolean) =>
      state.put(SCOPE, chatId, JSON.stringify({ v: 1, s: streamId, done }), this.#keepMs);
    const registered = entry(false);
    let stored: Promise<void> = Promise.resolve();
    let consumed = false;
    return {
      streamId,
      // Its reason is named AbortError: the SDK writes its `abort` chunk with the reason's message.
      signal: stream.signal,
      get stored() {
        return stored;
      },
      consumeSseStream: ({ stream: sse }) => {
        if (consumed) throw new Error(`resumable chat ${chatId}: consumeSseStream was called twice`);
        consumed = true;
        stored = registered
          .then(() => teeInto(stream, sse))
          .then(() => entry(true))
          .catch((err: unknown) => this.reportError(err));
      },
    };
  }

  /** The resume answer for chat `chatId`; `lastEventId` resumes after a piece already received. */
  async resume(
    chatId: string,
    options: { lastEventId?: string; signal?: AbortSignal } = {},
  ): Promise<ChatResume> {
    assertChatId(chatId);
    const internals = this.#internals();
    const current = decodeEntry(await internals.state.get(SCOPE, chatId));
    if (current === undefined || (current.done && !this.#replayFinished)) return { status: 204 };
    const reading = await internals.read(current.s, options);
    if (reading.status !== 'open') return { status: 204 };
    return { status: 200, body: rendered(reading.pieces, current.s) };
  }

  /** Stop chat `chatId`'s current generation wherever it runs; false when there is none running. */
  async stop(chatId: string): Promise<boolean> {
    assertChatId(chatId);
    const current = decodeEntry(await this.#internals().state.get(SCOPE, chatId));
    if (current === undefined || current.done) return false;
    return (await this.#events.stopStream(current.s)) === 'stopping';
  }

  /** @internal A failure of a handler over these chats, reported as the namespace's `error`. */
  reportError(err: unknown): void {
    this.#events.emit('error', err instanceof Error ? err : new Error(String(err)), {});
  }

  #internals() {
    return packageInternals(Events).responseStreams(this.#events);
  }
}

function assertChatId(chatId: unknown): asserts chatId is string {
  if (typeof chatId !== 'string' || !CHAT_ID.test(chatId)) {
    throw new ResponseStreamError(
      String(chatId).slice(0, 80),
      'invalid-id',
      'a chat id must be 1-80 of A-Z a-z 0-9 . _ : - starting with a letter or digit',
    );
  }
}

// The entry is read back from a shared store: anything but what `start()` wrote is absent.
function decodeEntry(text: string | undefined): { s: string; done: boolean } | undefined {
  if (text === undefined || text.length > 300) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object') return undefined;
    const { v, s, done } = value as { v?: unknown; s?: unknown; done?: unknown };
    if (v !== 1 || typeof s !== 'string' || typeof done !== 'boolean') return undefined;
    return { s, done };
  } catch {
    return undefined;
  }
}

/** The SSE text the SDK's parser reads: each stored event with its `id:` line, the ending as the SDK writes one. */
async function* rendered(pieces: AsyncIterable<StreamPiece>, streamId: string): AsyncGenerator<string> {
  for await (const piece of pieces) {
    if (piece.kind === 'chunk') yield `id: ${piece.id}\n${piece.body}`;
    else if (piece.kind === 'end') {
      yield `id: ${piece.id}\n${endingText(piece.ending, streamId)}data: [DONE]\n\n`;
      return;
    }
  }
}

function endingText(ending: StreamPiece['ending'], streamId: string): string {
  if (ending === undefined || ending.status === 'done') return '';
  if (ending.status === 'stopped')
    return `data: ${JSON.stringify({ type: 'abort', reason: stoppedReason(streamId) })}\n\n`;
  const reason =
    ending.status === 'lost' ? 'the answer was cut off: its server stopped' : 'the answer failed';
  return `data: ${JSON.stringify({ type: 'error', errorText: ending.message === undefined ? reason : `${reason}: ${ending.message}` })}\n\n`;
}
