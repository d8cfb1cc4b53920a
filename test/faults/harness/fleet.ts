/**
 * What the fault tests share: a free port, a fleet of supervisor-like agents that record every
 * config they were sent, and the check that no agent went back to an older config.
 */
import { once } from "node:events";
import net from "node:net";
import type { TenantFixture } from "../../helpers/fleet.js";
import type { TestAgent } from "../../helpers/opamp/supervisor.js";
import { collectorConfig, configsSent } from "../../helpers/rollouts.js";

export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address() as net.AddressInfo;
  s.close();
  return port;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A collector config whose OTLP port is its generation: a later config has a higher port. */
export const generation = (port: number) => collectorConfig(port);

/** The generations (OTLP ports) an agent was sent, in the order it received them. */
export function generationsSent(agent: TestAgent): number[] {
  return configsSent(agent).map((c) => Number(/endpoint: 0\.0\.0\.0:(\d+)/.exec(c)?.[1] ?? -1));
}

/** Agents that were sent an older generation after a newer one (the rule is: never). */
export function wentBack(agents: TestAgent[]): string[] {
  return agents.flatMap((a) => {
    const g = generationsSent(a);
    return g.some((v, i) => i > 0 && v < (g[i - 1] as number))
      ? [`${a.instanceUidString}: ${g.join(" → ")}`]
      : [];
  });
}

/**
 * `count` agents enrolled with one token carrying `labels`, reconnecting (like opamp-go) after
 * a close they did not ask for, switched to their own key and settled.
 */
export async function connectedFleet(
  fleet: TenantFixture,
  count: number,
  labels: Record<string, string>,
  opts: { url?: string; pollIntervalMs?: number } = {},
): Promise<TestAgent[]> {
  const { token } = await fleet.enrollmentToken({ labels });
  const agents = Array.from({ length: count }, () => fleet.agent({ token, reconnectDelayMs: 300, ...opts }));
  await Promise.all(
    agents.map(async (a) => {
      await a.start();
      await a.waitForConnection(2);
      await a.settle();
    }),
  );
  return agents;
}

/** Polls `check` every 100 ms until it returns a value; the value and the ms it took. */
export async function within<T>(
  timeoutMs: number,
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < timeoutMs) {
    try {
      const value = await check();
      if (value !== undefined) return { value, ms: Date.now() - started };
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}
