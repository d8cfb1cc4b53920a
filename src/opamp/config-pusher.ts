/**
 * The one owner of config pushing on a replica: plan → push → retry. Sessions ask it for the
 * config of their first message (`offerFor`); the server asks it to push after a fleet change
 * (`pushTo`). Both call down into it; it never calls back up (STYLE.md 16).
 *
 * A delivery that failed closed because a secret could not be decrypted (KMS down or throttling)
 * is retried after the KMS's hint, doubling up to 5 minutes while it keeps failing, on the Clock.
 */
import type { Clock, ClockTimer } from "../clock.js";
import type {
  AgentSessionFacts,
  ConfigPlanner,
  PlanResult,
  RemoteConfigOffer,
} from "../fleet/configs/planner.js";
import type { Logger } from "../logger.js";
import type { AgentEndpoint, ConnectionRegistry } from "./registry.js";

/**
 * Chunks being planned at once ahead of the push: two keep the push fed while a chunk's reads
 * wait on the database (one left it waiting for plans most of a 10,000-agent fan-out).
 */
const PLANS_AHEAD = 2;
/**
 * Chunks whose rows may still be being written behind the push: a push goes on only this far
 * ahead of its writes, so an agent's next report (which waits for its row) is answered promptly.
 */
const WRITES_BEHIND = 8;
const MAX_RETRY_DELAY_MS = 300_000;

export class ConfigPusher {
  /** Config retries after a KMS outage, per agent, with exponential backoff. */
  readonly #retries = new Map<string, { timer: ClockTimer; attempt: number }>();
  #stopped = false;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly planner: ConfigPlanner,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Agents planned (one database round of reads and writes) before their configs are pushed. */
    private readonly chunk = 500,
  ) {}

  /**
   * The config to send with a session's reply now, if any (batched with other sessions starting
   * now). A config that cannot be rendered now for want of a secret is retried later.
   */
  async offerFor(tenantId: string, facts: AgentSessionFacts): Promise<RemoteConfigOffer | undefined> {
    try {
      const { offer, retryAfter } = await this.planner.planSession(tenantId, facts);
      if (retryAfter !== undefined) this.#retryLater(tenantId, facts.instanceUid, retryAfter);
      else this.#clearRetry(tenantId, facts.instanceUid);
      return offer;
    } catch (err) {
      this.logger.error(
        { err, tenantId, instanceUid: facts.instanceUid },
        "planning the agent's config failed",
      );
      return undefined;
    }
  }

  /** Forgets cached assignments of a tenant (its configs changed). */
  invalidate(tenantId: string): void {
    this.planner.invalidate(tenantId);
  }

  /**
   * Recomputes the desired config of the tenant's agents held here (all of them, or `only`) and
   * pushes what changed, in one planning pass.
   */
  async pushTo(tenantId: string, only?: readonly string[]): Promise<void> {
    const endpoints = only
      ? only.flatMap((instanceUid) => this.registry.get({ tenantId, instanceUid }) ?? [])
      : this.registry.all().filter((e) => e.session.ref?.tenantId === tenantId);
    const byUid = new Map<string, AgentEndpoint>();
    const facts: AgentSessionFacts[] = [];
    for (const e of endpoints) {
      const f = e.session.configFacts();
      if (!f) continue;
      byUid.set(f.instanceUid, e);
      facts.push(f);
    }
    // Plan and push chunk by chunk: the first agents get their config while later ones are still
    // being planned, and the next chunks' database round trips overlap this chunk's pushes.
    // The rows of a push are written behind it: agents get their configs while they are recorded.
    const planned: Promise<PlanResult>[] = [];
    let nextChunk = 0;
    const planAhead = () => {
      for (; planned.length < PLANS_AHEAD && nextChunk < facts.length; nextChunk += this.chunk) {
        const plan = this.planner.plan(tenantId, facts.slice(nextChunk, nextChunk + this.chunk), {
          recordBehindPush: true,
        });
        // A chunk planned ahead fails where it is awaited; until then it must not go unhandled.
        plan.catch(() => undefined);
        planned.push(plan);
      }
    };
    planAhead();
    const writing: Promise<void>[] = [];
    for (let chunk = planned.shift(); chunk; chunk = planned.shift()) {
      const { offers, retryAfter, recorded } = await chunk;
      planAhead();
      for (const [uid, offer] of offers) {
        const endpoint = byUid.get(uid);
        if (endpoint) endpoint.push(endpoint.session.remoteConfigMessage(offer));
        this.#clearRetry(tenantId, uid);
      }
      for (const [uid, seconds] of retryAfter) this.#retryLater(tenantId, uid, seconds);
      writing.push(recorded);
      if (writing.length > WRITES_BEHIND) await writing.shift();
    }
  }

  #retryLater(tenantId: string, instanceUid: string, seconds: number): void {
    if (this.#stopped) return;
    const key = `${tenantId}/${instanceUid}`;
    const previous = this.#retries.get(key);
    previous?.timer.cancel();
    const attempt = (previous?.attempt ?? 0) + 1;
    const delayMs = Math.min(MAX_RETRY_DELAY_MS, Math.max(1, seconds) * 1000 * 2 ** Math.min(attempt - 1, 8));
    const timer = this.clock.setTimeout(async () => {
      const entry = this.#retries.get(key);
      try {
        await this.pushTo(tenantId, [instanceUid]);
        // Still failing: pushTo re-armed it with a higher attempt; otherwise done.
        if (this.#retries.get(key) === entry) this.#retries.delete(key);
      } catch (err) {
        this.logger.warn({ err, tenantId, instanceUid }, "config retry failed");
      }
    }, delayMs);
    this.#retries.set(key, { timer, attempt });
  }

  #clearRetry(tenantId: string, instanceUid: string): void {
    const key = `${tenantId}/${instanceUid}`;
    const entry = this.#retries.get(key);
    if (entry) {
      entry.timer.cancel();
      this.#retries.delete(key);
    }
  }

  /** Retries scheduled now (for tests and metrics). */
  get pendingRetries(): number {
    return this.#retries.size;
  }

  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#retries.values()) timer.cancel();
    this.#retries.clear();
  }
}
