// Key of every error class's code (a static) and of the mark on its prototype: `instanceof`
// compares them when the ESM and the CommonJS copies of a class are both loaded (see
// EventStreamError). No imports: the subpath entries import it relatively (one constant each).
export const ERROR_BRAND: unique symbol = Symbol.for('express-eventstream.error');
