// The public face of response streams, re-exported by the package's barrel.
export type { ResponseStream, ResponseStreamOptions } from './producer.js';
export type { ReadStreamOptions, StreamReading } from './reader.js';
export type { StreamPiece } from './records.js';
export type { StopOutcome } from './registry.js';
export type { StreamEnding } from './status.js';
