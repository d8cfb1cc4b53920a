/**
 * The rollout state machine against a model (fast-check commands over random report sequences):
 * whatever agents report, in whatever order, with admin pauses, resumes and aborts in between,
 * no more agents are ever admitted than the current wave allows, nobody is admitted past the
 * failure budget, an abort returns every agent that got the target, and completion pins the
 * assignment to the target with every agent on it.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  abort,
  advance,
  isAdmitted,
  type Observation,
  pause,
  type RolloutAgent,
  type RolloutCore,
  resume,
  TransitionError,
} from "../../src/fleet/rollouts/state-machine.js";
import { agentsOf, parseStrategy, strategyProblems, waveTargets } from "../../src/fleet/rollouts/strategy.js";

type Revision = "from" | "to";

/** The system under test with its simulated agents and what each was given. */
interface World {
  core: RolloutCore;
  agents: RolloutAgent[];
  obs: Map<string, Observation>;
  now: number;
  /** The revision each agent was given last (what the planner would push). */
  given: Map<string, Revision>;
  assignment: Revision;
}

/** What the rollout promised so far. */
interface Model {
  /** Agents that were given the target and not returned. */
  onTarget: Set<string>;
  aborted: boolean;
  completed: boolean;
}

function byUid(w: World, uid: string): RolloutAgent {
  const a = w.agents.find((x) => x.uid === uid);
  if (!a) throw new Error(`no agent ${uid}`);
  return a;
}

function checkInvariants(w: World, m: Model): void {
  const admitted = w.agents.filter((a) => isAdmitted(a.state));
  // Never more agents in flight (or done) than the current wave allows.
  expect(admitted.length).toBeLessThanOrEqual(w.core.waves[w.core.currentWave] ?? 0);
  // A running rollout is never past its failure budget.
  const failed = w.agents.filter((a) => a.state === "failed").length;
  if (w.core.state === "running")
    expect(failed - w.core.acknowledgedFailures).toBeLessThanOrEqual(w.core.failureBudget);
  // What each agent was given matches the promises.
  for (const a of w.agents) expect(w.given.get(a.uid)).toBe(m.onTarget.has(a.uid) ? "to" : "from");
  if (m.aborted) {
    expect(w.core.state).toBe("aborted");
    expect(w.assignment).toBe("from");
    expect(m.onTarget.size).toBe(0);
  }
  if (m.completed) {
    expect(w.assignment).toBe("to");
    expect(w.agents.some((a) => a.state === "in_progress")).toBe(false);
  }
}

class Tick implements fc.Command<Model, World> {
  constructor(readonly ms: number) {}
  check = () => true;
  run(m: Model, w: World): void {
    const before = w.core;
    const failuresBefore = w.agents.filter((a) => a.state === "failed").length - before.acknowledgedFailures;
    w.now += this.ms;
    const step = advance(before, w.agents, (uid) => w.obs.get(uid) as Observation, w.now);
    if (before.state !== "running" || failuresBefore > before.failureBudget)
      expect(step.admitted).toEqual([]);
    if (before.currentWave === 0 && step.rollout.currentWave === 0)
      for (const uid of step.admitted) expect(byUid(w, uid).canary).toBe(true);
    for (const c of step.changed) w.agents[w.agents.findIndex((a) => a.uid === c.uid)] = c;
    for (const uid of step.admitted) {
      expect(w.given.get(uid)).toBe("from");
      w.given.set(uid, "to");
      m.onTarget.add(uid);
    }
    w.core = step.rollout;
    expectQuietUntilWake(w, step.wakeAt);
    if (step.transition === "completed") {
      w.assignment = "to";
      m.completed = true;
      // Completion: the assignment now means the target for everyone, offline agents included.
      for (const a of w.agents) {
        w.given.set(a.uid, "to");
        m.onTarget.add(a.uid);
      }
    }
    checkInvariants(w, m);
  }
  toString = () => `tick(${this.ms})`;
}

/**
 * The step's `wakeAt` is when the clock alone changes something next: a step any time before it,
 * with the same observations, changes nothing (a stale unhealthy report is judged at the next
 * look, whatever the time: such worlds are left out); with no wakeAt, no later time changes
 * anything either.
 */
function expectQuietUntilWake(w: World, wakeAt: number | undefined): void {
  if (w.core.state !== "running" && w.core.state !== "paused") return;
  const staleUnhealthy = w.agents.some(
    (a) => a.state === "in_progress" && a.appliedAt !== null && w.obs.get(a.uid)?.healthy === false,
  );
  if (staleUnhealthy) return;
  if (wakeAt !== undefined) expect(wakeAt).toBeGreaterThan(w.now);
  const probeAt = wakeAt === undefined ? w.now + 100 * w.core.stallMs : wakeAt - 1;
  if (probeAt <= w.now) return;
  const probe = advance(w.core, w.agents, (uid) => w.obs.get(uid) as Observation, probeAt);
  expect(probe.changed).toEqual([]);
  expect(probe.admitted).toEqual([]);
  expect(probe.transition).toBeUndefined();
}

type ReportKind = "applied" | "failed" | "unhealthy" | "healthy" | "disconnect" | "reconnect";

class Report implements fc.Command<Model, World> {
  constructor(
    readonly index: number,
    readonly kind: ReportKind,
  ) {}
  check = () => true;
  run(m: Model, w: World): void {
    if (w.agents.length === 0) return;
    const a = w.agents[this.index % w.agents.length] as RolloutAgent;
    const o = w.obs.get(a.uid) as Observation;
    const onTarget = w.given.get(a.uid) === "to";
    if (this.kind === "applied" && onTarget) o.delivery = "applied";
    if (this.kind === "failed" && onTarget) {
      o.delivery = "failed";
      o.error = "collector refused the config";
    }
    if (this.kind === "unhealthy") o.healthy = false;
    if (this.kind === "healthy") o.healthy = true;
    if (this.kind === "disconnect") o.online = false;
    if (this.kind === "reconnect") o.online = true;
    checkInvariants(w, m);
  }
  toString = () => `report(${this.index}, ${this.kind})`;
}

class Admin implements fc.Command<Model, World> {
  constructor(readonly verb: "pause" | "resume" | "abort") {}
  check = () => true;
  run(m: Model, w: World): void {
    const state = w.core.state;
    try {
      if (this.verb === "pause") w.core = pause(w.core, "paused by an admin");
      else if (this.verb === "resume") w.core = resume(w.core, w.agents);
      else {
        const out = abort(w.core, w.agents, w.now, "aborted by an admin");
        // Abort returns exactly the agents that got the target.
        expect(new Set(out.returned)).toEqual(
          new Set(w.agents.filter((a) => isAdmitted(a.state)).map((a) => a.uid)),
        );
        expect(new Set(out.returned)).toEqual(m.onTarget);
        for (const c of out.changed) w.agents[w.agents.findIndex((a) => a.uid === c.uid)] = c;
        for (const uid of out.returned) {
          w.given.set(uid, "from");
          m.onTarget.delete(uid);
        }
        w.core = out.rollout;
        m.aborted = true;
      }
    } catch (err) {
      expect(err).toBeInstanceOf(TransitionError);
      const allowed =
        this.verb === "pause"
          ? state === "running"
          : this.verb === "resume"
            ? state === "paused"
            : state === "running" || state === "paused";
      expect(allowed).toBe(false);
    }
    checkInvariants(w, m);
  }
  toString = () => this.verb;
}

const amount = fc.oneof(
  fc.integer({ min: 0, max: 4 }),
  fc.integer({ min: 0, max: 100 }).map((p) => `${p}%` as const),
);
const waves = fc
  .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 3 })
  .map((ps) => [...ps.sort((a, b) => a - b).map((p) => `${p}%` as const), "100%" as const]);

const setup = fc.record({
  population: fc.integer({ min: 0, max: 25 }),
  offline: fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
  canary: amount,
  waves,
  bakeSeconds: fc.integer({ min: 0, max: 5 }),
  maxFailures: amount,
});

const commands = fc.commands(
  [
    fc.integer({ min: 0, max: 4000 }).map((ms) => new Tick(ms)),
    fc
      .tuple(
        fc.nat(24),
        fc.constantFrom<ReportKind>(
          "applied",
          "applied",
          "applied",
          "failed",
          "unhealthy",
          "healthy",
          "disconnect",
          "reconnect",
        ),
      )
      .map(([i, k]) => new Report(i, k)),
    fc.constantFrom("pause", "resume", "abort").map((v) => new Admin(v as "pause" | "resume" | "abort")),
  ],
  { maxCommands: 80 },
);

function buildWorld(s: {
  population: number;
  offline: boolean[];
  canary: number | `${number}%`;
  waves: `${number}%`[];
  bakeSeconds: number;
  maxFailures: number | `${number}%`;
}): World {
  const strategy = parseStrategy({
    canary: s.canary,
    waves: s.waves,
    bakeSeconds: s.bakeSeconds,
    maxFailures: s.maxFailures,
  });
  const canaryAgents = agentsOf(strategy.canary, s.population, "ceil");
  const agents: RolloutAgent[] = Array.from({ length: s.population }, (_, i) => ({
    uid: `agent-${i}`,
    position: i,
    canary: i < canaryAgents,
    state: "pending",
    reason: null,
    admittedAt: null,
    appliedAt: null,
    finishedAt: null,
  }));
  const now = 1_000_000;
  return {
    core: {
      state: "running",
      reason: null,
      waves: waveTargets(strategy, s.population, canaryAgents),
      currentWave: 0,
      waveStartedAt: now,
      bakeMs: strategy.bakeSeconds * 1000,
      stallMs: 10_000,
      failureBudget: agentsOf(strategy.maxFailures, s.population, "floor"),
      acknowledgedFailures: 0,
    },
    agents,
    obs: new Map(
      agents.map((a, i) => [a.uid, { online: !s.offline[i], healthy: true, delivery: "waiting" }]),
    ),
    now,
    given: new Map(agents.map((a) => [a.uid, "from"])),
    assignment: "from",
  };
}

describe("rollout state machine (model-based)", () => {
  test.prop([setup, commands], { numRuns: 300 })(
    "keeps wave limits and the failure budget, aborts return every touched agent, completion pins",
    (s, cmds) => {
      const w = buildWorld(s);
      const m: Model = { onTarget: new Set(), aborted: false, completed: false };
      fc.modelRun(() => ({ model: m, real: w }), cmds);
    },
  );

  test.prop([setup], { numRuns: 100 })(
    "a fleet that applies and stays healthy completes, wave by wave, with every online agent succeeded",
    (s) => {
      const w = buildWorld(s);
      const m: Model = { onTarget: new Set(), aborted: false, completed: false };
      const waves = new Set<number>();
      for (let i = 0; i < 200 && w.core.state === "running"; i++) {
        new Tick(1000).run(m, w);
        waves.add(w.core.currentWave);
        for (const [uid, o] of w.obs) if (w.given.get(uid) === "to") o.delivery = "applied";
      }
      expect(w.core.state).toBe("completed");
      for (const a of w.agents) {
        const online = (w.obs.get(a.uid) as Observation).online;
        expect(a.state).toBe(online ? "succeeded" : "pending");
      }
      expect(w.assignment).toBe("to");
    },
  );
});

describe("rollout state machine (examples)", () => {
  const base = () =>
    buildWorld({
      population: 10,
      offline: Array(25).fill(false),
      canary: 2,
      waves: ["50%", "100%"],
      bakeSeconds: 1,
      maxFailures: 0,
    });

  it("a failing canary pauses the rollout with only the canary touched", () => {
    const w = base();
    const m: Model = { onTarget: new Set(), aborted: false, completed: false };
    new Tick(0).run(m, w);
    expect([...m.onTarget]).toEqual(["agent-0", "agent-1"]);
    (w.obs.get("agent-0") as Observation).delivery = "failed";
    new Tick(100).run(m, w);
    expect(w.core.state).toBe("paused");
    expect(w.core.reason).toMatch(/more than maxFailures \(0\).*agent-0: the agent reported FAILED/);
    new Tick(5000).run(m, w);
    expect(m.onTarget.size).toBe(2);
  });

  it("an agent that goes unhealthy during the bake fails; one silent past the stall timeout fails", () => {
    const w = buildWorld({
      population: 4,
      offline: Array(25).fill(false),
      canary: 2,
      waves: ["100%"],
      bakeSeconds: 5,
      maxFailures: 2,
    });
    const m: Model = { onTarget: new Set(), aborted: false, completed: false };
    new Tick(0).run(m, w);
    (w.obs.get("agent-0") as Observation).delivery = "applied";
    new Tick(1000).run(m, w);
    (w.obs.get("agent-0") as Observation).healthy = false;
    new Tick(1000).run(m, w);
    expect(byUid(w, "agent-0")).toMatchObject({ state: "failed", reason: "unhealthy before the bake ended" });
    new Tick(10_000).run(m, w);
    expect(byUid(w, "agent-1").reason).toMatch(/no APPLIED within the stall timeout/);
    expect(w.core.state).toBe("running");
  });

  it("a stale unhealthy report at the look that first sees APPLIED does not fail the agent", () => {
    const w = buildWorld({
      population: 2,
      offline: Array(25).fill(false),
      canary: 1,
      waves: ["100%"],
      bakeSeconds: 5,
      maxFailures: 0,
    });
    const m: Model = { onTarget: new Set(), aborted: false, completed: false };
    new Tick(0).run(m, w);
    const o = w.obs.get("agent-0") as Observation;
    o.delivery = "applied";
    o.healthy = false;
    new Tick(1000).run(m, w);
    expect(byUid(w, "agent-0").state).toBe("in_progress");
    o.healthy = true;
    new Tick(5000).run(m, w);
    expect(byUid(w, "agent-0").state).toBe("succeeded");
  });

  it("the bake runs from when the agent applied the target, not from the look that saw it", () => {
    const w = buildWorld({
      population: 2,
      offline: Array(25).fill(false),
      canary: 1,
      waves: ["100%"],
      bakeSeconds: 5,
      maxFailures: 0,
    });
    const m: Model = { onTarget: new Set(), aborted: false, completed: false };
    new Tick(0).run(m, w);
    const admittedAt = w.now;
    const o = w.obs.get("agent-0") as Observation;
    o.delivery = "applied";
    o.appliedAt = admittedAt + 200;
    new Tick(1000).run(m, w);
    expect(byUid(w, "agent-0")).toMatchObject({ state: "in_progress", appliedAt: admittedAt + 200 });
    // 5 s after it applied (4.2 s after the look that first saw it): baked.
    new Tick(4300).run(m, w);
    expect(byUid(w, "agent-0").state).toBe("succeeded");
  });

  it("says when the clock next changes something: the end of the last bake, then completion", () => {
    const w = buildWorld({
      population: 2,
      offline: Array(25).fill(false),
      canary: 0,
      waves: ["100%"],
      bakeSeconds: 5,
      maxFailures: 0,
    });
    const m: Model = { onTarget: new Set(), aborted: false, completed: false };
    const admittedAt = w.now;
    let step = advance(w.core, w.agents, (uid) => w.obs.get(uid) as Observation, w.now);
    // Nobody applied yet: the stall timeout of the admitted agents.
    expect(step.wakeAt).toBe(admittedAt + w.core.stallMs);
    new Tick(0).run(m, w);
    for (const [i, uid] of ["agent-0", "agent-1"].entries()) {
      const o = w.obs.get(uid) as Observation;
      o.delivery = "applied";
      o.appliedAt = admittedAt + 300 + i * 400;
    }
    w.now += 1000;
    step = advance(w.core, w.agents, (uid) => w.obs.get(uid) as Observation, w.now);
    expect(step.wakeAt).toBe(admittedAt + 5300);
    new Tick(0).run(m, w);
    new Tick(admittedAt + 5300 - w.now).run(m, w);
    expect(byUid(w, "agent-0").state).toBe("succeeded");
    expect(w.core.state).toBe("running");
    step = advance(w.core, w.agents, (uid) => w.obs.get(uid) as Observation, w.now);
    expect(step.wakeAt).toBe(admittedAt + 5700);
    new Tick(400).run(m, w);
    expect(w.core.state).toBe("completed");
  });

  it("resume accepts the failures so far; the next one beyond the budget pauses again", () => {
    const w = base();
    const m: Model = { onTarget: new Set(), aborted: false, completed: false };
    new Tick(0).run(m, w);
    (w.obs.get("agent-0") as Observation).delivery = "failed";
    new Tick(100).run(m, w);
    new Admin("resume").run(m, w);
    expect(w.core.state).toBe("running");
    (w.obs.get("agent-1") as Observation).delivery = "failed";
    new Tick(100).run(m, w);
    expect(w.core.state).toBe("paused");
  });
});

describe("rollout strategy", () => {
  it("names the field of every problem", () => {
    const paths = strategyProblems({
      waves: ["50%", "25%", "90%"],
      bakeSeconds: -1,
      canary: "x",
      extra: 1,
    }).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "strategy.extra",
        "strategy.canary",
        "strategy.waves[1]",
        "strategy.waves",
        "strategy.bakeSeconds",
      ]),
    );
  });

  test.prop([fc.integer({ min: 0, max: 10_000 }), waves, amount])(
    "wave targets are cumulative and end at the population",
    (n, w, canary) => {
      const s = parseStrategy({ waves: w, canary });
      const targets = waveTargets(s, n, agentsOf(s.canary, n, "ceil"));
      for (let i = 1; i < targets.length; i++)
        expect(targets[i]).toBeGreaterThanOrEqual(targets[i - 1] as number);
      expect(targets.at(-1)).toBe(n);
    },
  );
});
