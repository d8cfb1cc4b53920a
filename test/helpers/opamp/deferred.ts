/**
 * A promise with its resolve/reject handed out, for replies that arrive through another event
 * (a WebSocket message, an HTTP response), and the no-op the test agent uses to drop a promise's
 * outcome on purpose.
 */

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

export function noop(): void {}

/** A pending promise whose rejection is never reported as unhandled (see below). */
export function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = noop;
  let reject: (err: Error) => void = noop;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Marked handled here so an unawaited rejection never becomes an unhandled rejection; anyone
  // awaiting `promise` still sees it.
  promise.catch(noop);
  return { promise, resolve, reject };
}
