import { describe, expect, it } from "vitest";
import { BatchQueue, runInRounds } from "../../src/fleet/batch-queue.js";

/** A batched call that records each batch and can be held open until released. */
function recorder() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  let hold = false;
  const run = async (items: number[]) => {
    batches.push(items);
    if (hold) await new Promise<void>((resolve) => gates.push(resolve));
    return items.map((n) => n * 10);
  };
  return {
    batches,
    run,
    hold: () => {
      hold = true;
    },
    release: () => {
      hold = false;
      for (const g of gates.splice(0)) g();
    },
  };
}

describe("BatchQueue (group commit)", () => {
  it("runs the calls of one event-loop turn as one batch and gives each caller its own result", async () => {
    const r = recorder();
    const queue = new BatchQueue(r.run, { maxBatch: 100, concurrency: 1 });
    const results = await Promise.all([1, 2, 3].map((n) => queue.submit(n)));
    expect(results).toEqual([10, 20, 30]);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  it("collects calls made while a batch is in flight into the next batch", async () => {
    const r = recorder();
    const queue = new BatchQueue(r.run, { maxBatch: 100, concurrency: 1 });
    r.hold();
    const first = queue.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [2, 3, 4].map((n) => queue.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.batches).toEqual([[1]]);
    r.release();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40]);
    expect(r.batches).toEqual([[1], [2, 3, 4]]);
  });

  it("splits at maxBatch and runs at most `concurrency` batches at once", async () => {
    const r = recorder();
    const queue = new BatchQueue(r.run, { maxBatch: 2, concurrency: 2 });
    r.hold();
    const all = [1, 2, 3, 4, 5].map((n) => queue.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(queue.size).toBe(5);
    r.release();
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50]);
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(queue.size).toBe(0);
  });

  it("rejects every caller of a failed batch and keeps serving later ones", async () => {
    let fail = true;
    const queue = BatchQueue.ofWrites<string>(
      async () => {
        if (fail) throw new Error("connection lost");
      },
      { maxBatch: 10, concurrency: 1 },
    );
    const failed = await Promise.allSettled([queue.submit("a"), queue.submit("b")]);
    expect(failed.map((f) => f.status)).toEqual(["rejected", "rejected"]);
    expect((failed[0] as PromiseRejectedResult).reason).toEqual(new Error("connection lost"));
    fail = false;
    await expect(queue.submit("c")).resolves.toBeUndefined();
  });

  it("runs a batch again after a retryable error (a deadlock), at most three times in all", async () => {
    let calls = 0;
    const deadlock = Object.assign(new Error("deadlock detected"), { code: "40P01" });
    const queue = new BatchQueue(
      async (items: number[]) => {
        calls++;
        if (calls < 3) throw deadlock;
        return items;
      },
      { maxBatch: 10, concurrency: 1, retryable: (err) => (err as { code?: string }).code === "40P01" },
    );
    await expect(queue.submit(7)).resolves.toBe(7);
    expect(calls).toBe(3);

    calls = -10;
    const stubborn = new BatchQueue(
      async () => {
        calls++;
        throw deadlock;
      },
      { maxBatch: 10, concurrency: 1, retryable: () => true },
    );
    await expect(stubborn.submit(1)).rejects.toThrow("deadlock detected");
    expect(calls).toBe(-7);
  });
});

describe("BatchQueue failure isolation", () => {
  it("runs a failed batch item by item on an item error, so only the bad item gets it", async () => {
    const refused = Object.assign(new Error("violates foreign key constraint"), { code: "23503" });
    const runs: number[][] = [];
    const queue = new BatchQueue(
      async (items: number[]) => {
        runs.push(items);
        if (items.includes(13)) throw refused;
        return items.map((n) => n + 1);
      },
      { maxBatch: 10, concurrency: 1, isolatable: (err) => (err as { code?: string }).code === "23503" },
    );
    const results = await Promise.allSettled([1, 13, 2].map((n) => queue.submit(n)));
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : "refused"))).toEqual([2, "refused", 3]);
    expect(runs).toEqual([[1, 13, 2], [1], [13], [2]]);
  });

  it("fails the whole batch at once on any other error (the database is unreachable)", async () => {
    let calls = 0;
    const queue = new BatchQueue(
      async () => {
        calls++;
        throw new Error("connect ECONNREFUSED");
      },
      { maxBatch: 10, concurrency: 1, isolatable: () => false },
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => queue.submit(n)));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(calls).toBe(1);
  });
});

describe("runInRounds", () => {
  it("never puts one key twice in a round and returns results in input order", async () => {
    const rounds: string[][] = [];
    const items = ["a1", "b1", "a2", "c1", "a3", "b2"];
    const out = await runInRounds(
      items,
      (s) => s[0] as string,
      async (round) => {
        rounds.push(round);
        return round.map((s) => s.toUpperCase());
      },
    );
    expect(out).toEqual(["A1", "B1", "A2", "C1", "A3", "B2"]);
    expect(rounds).toEqual([["a1", "b1", "c1"], ["a2", "b2"], ["a3"]]);
  });
});
