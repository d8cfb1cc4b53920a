import { describe, expect, it } from "vitest";
import { isConnectionFailure, retryingDeadlocks } from "../../src/db/errors.js";

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("isConnectionFailure: the class of a database error, not its statement", () => {
  it.each([
    ["a refused connect", withCode("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432")],
    ["a reset socket", withCode("ECONNRESET")],
    ["a connection exception (class 08)", withCode("08006")],
    ["a backend terminated by an administrator", withCode("57P01", "terminating connection")],
    ["a server crash shutdown", withCode("57P02")],
    ["a server still starting", withCode("57P03", "the database system is starting up")],
    ["too many connections", withCode("53300")],
    ["a refused password", withCode("28P01", "password authentication failed")],
    ["a lost connection", new Error("Connection terminated unexpectedly")],
    ["a pool connect timeout", new Error("timeout exceeded when trying to connect")],
    ["a client broken earlier", new Error("Client has encountered a connection error and is not queryable")],
    ["several refused addresses", new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")])],
    ["a wrapped cause", new Error("outer", { cause: withCode("ECONNREFUSED") })],
  ])("is true for %s", (_what, err) => {
    expect(isConnectionFailure(err)).toBe(true);
  });

  it.each([
    ["a unique violation", withCode("23505")],
    ["a data exception", withCode("22P02")],
    ["a syntax error", withCode("42601")],
    ["a deadlock", withCode("40P01")],
    ["a programming error", new TypeError("cannot read properties of undefined")],
    ["a string", "ECONNREFUSED"],
    ["nothing", undefined],
  ])("is false for %s", (_what, err) => {
    expect(isConnectionFailure(err)).toBe(false);
  });
});

describe("retryingDeadlocks: a statement PostgreSQL aborted as a deadlock runs again", () => {
  const failing = (errors: Error[]) => {
    let calls = 0;
    return {
      run: async () => {
        const err = errors[calls++];
        if (err) throw err;
        return calls;
      },
      calls: () => calls,
    };
  };

  it("runs again after a deadlock, up to three attempts, and returns the result", async () => {
    const s = failing([withCode("40P01"), withCode("40P01")]);
    expect(await retryingDeadlocks(s.run)).toBe(3);
  });

  it("gives up after the third deadlock with the deadlock error", async () => {
    const s = failing([withCode("40P01", "d1"), withCode("40P01", "d2"), withCode("40P01", "d3")]);
    await expect(retryingDeadlocks(s.run)).rejects.toThrow("d3");
    expect(s.calls()).toBe(3);
  });

  it("does not repeat any other error", async () => {
    const s = failing([withCode("23505", "duplicate key")]);
    await expect(retryingDeadlocks(s.run)).rejects.toThrow("duplicate key");
    expect(s.calls()).toBe(1);
  });
});
