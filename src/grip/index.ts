// GRIP (Pushpin / Fastly Fanout): configuration, Grip-Sig verification, hold instructions and the
// publisher. The core reaches it through plugin.ts (one GripPlugin); this barrel is for tests and the public types.

export type { GripRequestCheck } from '../protocol/grip-requests.js';
export { GripConfigError, GripPublishError } from './errors.js';
export { resolveGrip } from './grip-url.js';
export { encodeKeepAlive, holdHeaders, keepAliveSeconds } from './instructions.js';
export { FASTLY_FANOUT_PUBLIC_JWK } from './keys.js';
export { createGripSink, type GripSinkOptions } from './publisher.js';
export { checkGripRequest } from './request.js';
export type {
  GripJsonWebKey,
  GripOption,
  GripProxyOptions,
  GripRetryOptions,
  GripSettings,
} from './types.js';
