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
export interface BatchQueueOptions {
  /** Items per batched call at most (bounds statement size and parameter count). */
  maxBatch: number;
  /** Batched calls in flight at once (each takes one pooled connection). */
  concurrency: number;
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
      const results = await this.run(batch.map((w) => w.item));
      batch.forEach((w, i) => {
        w.resolve(results[i] as O);
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
