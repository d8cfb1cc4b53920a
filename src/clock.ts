/**
 * Time as a dependency (STYLE.md 4): the rules that depend on elapsed time (liveness, the
 * enrollment grace, stalled deliveries, config retries after a KMS outage) read the time and
 * set their timers through a `Clock`, so tests move time on instead of waiting for it.
 *
 * A timer callback may return a promise: the system clock only reports its rejection, a
 * `ManualClock` waits for it, so a test that advances time sees the timer's work done.
 */

export type TimerTask = () => unknown;

export interface ClockTimer {
  /** Cancels the timer (idempotent). */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** `now()` as a Date. */
  date(): Date;
  /** Runs `task` once after `ms`; never keeps the process alive. */
  setTimeout(task: TimerTask, ms: number): ClockTimer;
  /** Runs `task` every `ms`; never keeps the process alive. */
  setInterval(task: TimerTask, ms: number): ClockTimer;
}

/** Reports a timer task's failure; a timer must never crash the process. */
type FailureSink = (err: unknown) => void;

function runTask(task: TimerTask, onFailure: FailureSink): void {
  try {
    const result = task();
    if (result instanceof Promise) result.catch(onFailure);
  } catch (err) {
    onFailure(err);
  }
}

/** Real time and Node's timers (unref'd). */
export class SystemClock implements Clock {
  constructor(private readonly onFailure: FailureSink = () => undefined) {}

  now(): number {
    return Date.now();
  }

  date(): Date {
    return new Date();
  }

  setTimeout(task: TimerTask, ms: number): ClockTimer {
    const timer = setTimeout(() => runTask(task, this.onFailure), ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  }

  setInterval(task: TimerTask, ms: number): ClockTimer {
    const timer = setInterval(() => runTask(task, this.onFailure), ms);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  }
}

interface ManualTimer {
  at: number;
  every: number | undefined;
  task: TimerTask;
  cancelled: boolean;
  seq: number;
}

/**
 * Time that moves only when a test says so. `advance(ms)` runs every timer that falls due, in
 * time order, each at its own due time, and waits for the promise a task returns.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<ManualTimer>();

  /** Starts at `start` (default: the real time now, so database timestamps stay comparable). */
  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  date(): Date {
    return new Date(this.#now);
  }

  setTimeout(task: TimerTask, ms: number): ClockTimer {
    return this.#add(task, ms, undefined);
  }

  setInterval(task: TimerTask, ms: number): ClockTimer {
    return this.#add(task, ms, Math.max(1, ms));
  }

  #add(task: TimerTask, ms: number, every: number | undefined): ClockTimer {
    const timer: ManualTimer = {
      at: this.#now + Math.max(0, ms),
      every,
      task,
      cancelled: false,
      seq: this.#seq++,
    };
    this.#timers.add(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
        this.#timers.delete(timer);
      },
    };
  }

  /** Moves time on by `ms`, running (and awaiting) the timers that fall due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      const due = [...this.#timers]
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#now = Math.max(this.#now, due.at);
      if (due.every === undefined) this.#timers.delete(due);
      else due.at += due.every;
      await due.task();
    }
    this.#now = end;
  }
}
