// `express-eventstream/ai`: the server side of the Vercel AI SDK's stream resumption (`useChat({
// resume: true })`): each answer teed into a response stream of the shared history, a resume
// endpoint any process can serve, and stop requests that reach the producing process.
import { ResumableChats, type ResumableChatsOptions } from './chats.js';

export type { ChatGeneration, ChatResume, ResumableChatsOptions } from './chats.js';
export { ResumableChats } from './chats.js';
export { type ChatStreamHandlerOptions, chatStreamFetchHandler, chatStreamHandler } from './http.js';

/** Resumable chats over `options.events`' history: `chats.start(chatId)` per answer, `chatStreamHandler(chats)` to resume. */
export function resumableChats(options: ResumableChatsOptions): ResumableChats {
  return new ResumableChats(options);
}
