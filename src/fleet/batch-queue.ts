/**
 * Group commit for hot statements: concurrent calls are coalesced into one batched call (one
 * database round trip and, for writes, one commit for many agents).
 *
 * Calls made in the same turn of the event loop go together; while `concurrency` batches are in
 * flight, new calls wait and leave with the next batch. An idle server therefore pays no delay
 * beyond one `setImmediate`, and a loaded one pays one round trip per batch instead of per call.
 * Every caller gets its own result (or the batch's error) and can await it before it answers the
 * agent, so the order of one agent's messages is kept.
 */
import { isDataError, isDeadlock } from "../db/errors.js";

/**
 * Options of the queues in front of the database: two batches in flight per queue (each takes
 * one pooled connection), a deadlocked batch runs again, and a row a constraint refuses fails
 * only its own item.
 */
export function databaseBatches(maxBatch: number): BatchQueueOptions {
  return { maxBatch, concurrency: 2, retryable: isDeadlock, isolatable: isDataError };
}

export interface BatchQueueOptions {
  /** Items per batched call at most (bounds statement size and parameter count). */
  maxBatch: number;
  /** Batched calls in flight at once (each takes one pooled connection). */
  concurrency: number;
  /**
   * Errors after which the same batch runs again (at most twice more): two batches locking
   * overlapping rows in different orders deadlock, and PostgreSQL aborts one of them.
   */
  retryable?: (err: unknown) => boolean;
  /**
   * Errors one item can cause (a row a constraint refuses): the batch's items then run one by
   * one, so only the item that fails by itself gets the error. Any other error (the database is
   * unreachable) fails the whole batch at once.
   */
  isolatable?: (err: unknown) => boolean;
}

interface Waiter<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export class BatchQueue<I, O> {
  #waiting: Waiter<I, O>[] = [];
  #running = 0;
  #inFlight = 0;
  #scheduled = false;

  /** `run` gets the items of one batch and returns one result per item, in the same order. */
  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly options: BatchQueueOptions,
  ) {}

  /** A queue of writes: `write` stores a whole batch, each caller waits for its batch's commit. */
  static ofWrites<T>(write: (items: T[]) => Promise<void>, options: BatchQueueOptions): BatchQueue<T, void> {
    return new BatchQueue<T, void>(async (items) => {
      await write(items);
      return items.map(() => undefined);
    }, options);
  }

  /** Queues one item; resolves with its result once its batch has run. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Items queued or in flight (for tests and metrics). */
  get size(): number {
    return this.#waiting.length + this.#inFlight;
  }

  #schedule(): void {
    if (this.#scheduled || this.#running >= this.options.concurrency) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#running < this.options.concurrency && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.options.maxBatch);
      this.#running++;
      this.#inFlight += batch.length;
      this.#runBatch(batch).finally(() => {
        this.#running--;
        this.#inFlight -= batch.length;
        if (this.#waiting.length > 0) this.#schedule();
      });
    }
  }

  async #runBatch(batch: Waiter<I, O>[]): Promise<void> {
    try {
      const results = await this.#runWithRetries(batch.map((w) => w.item));
      batch.forEach((w, i) => {
        w.resolve(results[i] as O);
      });
    } catch (err) {
      if (batch.length === 1 || !this.options.isolatable?.(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // One bad item (a row a constraint refuses) must not fail its neighbours: run each alone,
      // so only the item that fails by itself gets the error.
      await Promise.all(batch.map((w) => this.#runBatch([w])));
    }
  }

  async #runWithRetries(items: I[]): Promise<O[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.run(items);
      } catch (err) {
        if (attempt >= 3 || !this.options.retryable?.(err)) throw err;
      }
    }
  }
}

/**
 * Runs `run` over `items` in rounds in which no key appears twice (one statement cannot write the
 * same row twice: an agent reconnecting while its old connection's write is queued), and returns
 * the results in the order of `items`.
 */
export async function runInRounds<I, O>(
  items: readonly I[],
  keyOf: (item: I) => string,
  run: (round: I[]) => Promise<O[]>,
): Promise<O[]> {
  const results = new Map<I, O>();
  let rest = [...items];
  while (rest.length > 0) {
    const seen = new Set<string>();
    const round: I[] = [];
    const later: I[] = [];
    for (const item of rest) {
      const key = keyOf(item);
      if (seen.has(key)) later.push(item);
      else {
        seen.add(key);
        round.push(item);
      }
    }
    const out = await run(round);
    round.forEach((item, i) => {
      results.set(item, out[i] as O);
    });
    rest = later;
  }
  return items.map((item) => results.get(item) as O);
}
