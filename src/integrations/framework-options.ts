// Shared by the framework adapters: their `channels`/`authorize` callbacks take the framework's
// request object (FastifyRequest, Koa Context), while the node handler calls them with the raw
// IncomingMessage. A WeakMap from the raw request back to the framework's object bridges the two
// without touching either object.
import type { IncomingMessage } from 'node:http';
import type { HandlerOptions, HttpRequest } from 'express-eventstream';

export function frameworkOptions<M extends object, T extends object>(
  options: HandlerOptions<M, T>,
): { options: HandlerOptions<M, HttpRequest>; bind: (raw: IncomingMessage, framework: T) => void } {
  const byRaw = new WeakMap<HttpRequest, T>();
  const of = (raw: HttpRequest): T => {
    const framework = byRaw.get(raw);
    // bind() runs before the handler sees the request, so this cannot miss.
    if (framework === undefined) throw new Error('express-eventstream: request not bound to its framework');
    return framework;
  };
  // Anything that is not an object, or a callback that is not a function, goes to the handler
  // untouched, so it is refused there with the usual InvalidOptionError.
  if (options === null || typeof options !== 'object') {
    return { options: options as HandlerOptions<M, HttpRequest>, bind: () => {} };
  }
  const { channels, authorize, filter, presence, ...rest } = options;
  const resolved: HandlerOptions<M, HttpRequest> = { ...rest };
  if ('channels' in options) {
    resolved.channels =
      typeof channels === 'function'
        ? (raw, identity) => channels(of(raw), identity)
        : (channels as HandlerOptions<M, HttpRequest>['channels']);
  }
  if ('authorize' in options) {
    resolved.authorize =
      typeof authorize === 'function'
        ? (raw, list) => authorize(of(raw), list)
        : (authorize as HandlerOptions<M, HttpRequest>['authorize']);
  }
  if ('filter' in options) {
    resolved.filter =
      typeof filter === 'function'
        ? (raw, list, identity) => filter(of(raw), list, identity)
        : (filter as HandlerOptions<M, HttpRequest>['filter']);
  }
  if ('presence' in options) {
    resolved.presence =
      typeof presence === 'function'
        ? (raw, list, identity) => presence(of(raw), list, identity)
        : (presence as HandlerOptions<M, HttpRequest>['presence']);
  }
  return { options: resolved, bind: (raw, framework) => byRaw.set(raw, framework) };
}
