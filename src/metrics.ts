/**
 * Prometheus metrics behind one facade: a helper per business event, low-cardinality labels only
 * (route templates, status codes, reasons; never tenant ids or instance UIDs, those go to logs).
 * Each context owns its own registry, so several servers can run in one test process.
 */
import { readdir } from "node:fs/promises";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Default metrics that walk every handle on the event loop at each scrape (see the constructor). */
const SLOW_DEFAULT_METRICS = [
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_resources",
  "nodejs_active_resources_total",
];

/** Pool figures the database layer reports at scrape time. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
  /** The pool's size limit (DB_POOL_MAX). */
  max: number;
}

/** Fleet-wide figures read from the database at scrape time (src/fleet/operations). */
export interface FleetFigures {
  agents: { online: number; offline: number };
  deliveriesStalled: number;
  /** Rollouts by state (every state present, zero when none). */
  rollouts: Record<"running" | "paused" | "completed" | "aborted" | "superseded", number>;
  /** Paused rollouts that paused themselves (more failures than their budget). */
  rolloutsSelfPaused: number;
}

/** A KMS operation, as the metrics name it. */
export type KmsOperation = "generate_data_key" | "decrypt" | "wrap";

export class Metrics {
  readonly registry = new Registry();

  readonly #httpRequests = new Counter({
    name: "agentapi_http_requests_total",
    help: "REST requests by route template, method and status code",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });
  readonly #httpDuration = new Histogram({
    name: "agentapi_http_request_duration_seconds",
    help: "REST request duration by route template and method",
    labelNames: ["route", "method"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly #authFailures = new Counter({
    name: "agentapi_auth_failures_total",
    help: "Rejected credentials by transport and reason",
    labelNames: ["transport", "reason"] as const,
    registers: [this.registry],
  });
  readonly #auditEvents = new Counter({
    name: "agentapi_audit_events_total",
    help: "Audit events written, by action",
    labelNames: ["action"] as const,
    registers: [this.registry],
  });

  readonly #opampConnects = new Counter({
    name: "agentapi_opamp_connects_total",
    help: "Accepted OpAMP connections (WebSocket upgrades, new plain-HTTP sessions) by transport and credential",
    labelNames: ["transport", "credential"] as const,
    registers: [this.registry],
  });
  readonly #opampDisconnects = new Counter({
    name: "agentapi_opamp_disconnects_total",
    help: "Closed OpAMP connections by transport and reason",
    labelNames: ["transport", "reason"] as const,
    registers: [this.registry],
  });
  readonly #enrollments = new Counter({
    name: "agentapi_enrollments_total",
    help: "Phase-1 enrollments: new agents and re-enrollments of known agents",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly #opampMessages = new Counter({
    name: "agentapi_opamp_messages_total",
    help: "AgentToServer messages by facet they carried (heartbeat = none)",
    labelNames: ["facet"] as const,
    registers: [this.registry],
  });
  /** The heartbeat series, bound once: it is counted for every heartbeat of every agent. */
  readonly #heartbeats = this.#opampMessages.labels({ facet: "heartbeat" });
  readonly #opampRejected = new Counter({
    name: "agentapi_opamp_rejected_messages_total",
    help: "AgentToServer messages answered with an error, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly #instanceUidsAssigned = new Counter({
    name: "agentapi_opamp_instance_uids_assigned_total",
    help: "New instance uids given to connections (why: duplicate, requested)",
    labelNames: ["why"] as const,
    registers: [this.registry],
  });
  readonly #commandsSent = new Counter({
    name: "agentapi_opamp_commands_sent_total",
    help: "ServerToAgent commands sent to agents, by type",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });
  readonly #opampLatency = new Histogram({
    name: "agentapi_opamp_message_duration_seconds",
    help: "Time to handle one AgentToServer message and produce its reply",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly #opampRefused = new Counter({
    name: "agentapi_opamp_refused_connections_total",
    help: "OpAMP connection attempts refused before a session exists (401, 429, 503), by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly #deliveries = new Counter({
    name: "agentapi_deliveries_total",
    help: "Delivery rows reaching a status: offered by the server, applying/applied/failed as agents report",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly #kmsDuration = new Histogram({
    name: "agentapi_kms_request_duration_seconds",
    help: "KMS calls (successful or not) by operation",
    labelNames: ["operation"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly #kmsErrors = new Counter({
    name: "agentapi_kms_errors_total",
    help: "Failed KMS calls by operation and kind (unavailable, key, integrity, other)",
    labelNames: ["operation", "kind"] as const,
    registers: [this.registry],
  });
  readonly #fleetEventLag = new Histogram({
    name: "agentapi_fleet_event_lag_seconds",
    help: "From a fleet event's commit to this replica having handled it",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  #connectedAgents: () => number = () => 0;
  #fleetFigures: (() => Promise<FleetFigures>) | undefined;
  #figures: Promise<FleetFigures | undefined> | undefined;
  #ready: (() => Promise<boolean>) | undefined;

  constructor(poolStats: () => PoolStats | undefined = () => undefined) {
    const connected = () => this.#connectedAgents();
    new Gauge({
      name: "agentapi_opamp_connected_agents",
      help: "Agents connected to this replica",
      registers: [this.registry],
      collect() {
        this.set(connected());
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "agentapi_" });
    // Two default collectors walk every open fd / active handle on the event loop at each scrape:
    // with 19,000 agents that stalled the server for ~56 ms per scrape. Active handles and
    // resources go (the connected-agents gauge says what they would); open fds stay, counted off
    // the event loop (an async readdir) and shown as of the previous scrape.
    for (const name of SLOW_DEFAULT_METRICS) this.registry.removeSingleMetric(`agentapi_${name}`);
    if (process.platform === "linux") {
      this.registry.removeSingleMetric("agentapi_process_open_fds");
      let openFds = 0;
      const count = () => {
        readdir("/proc/self/fd").then(
          (fds) => {
            openFds = fds.length;
          },
          () => undefined,
        );
      };
      count();
      new Gauge({
        name: "agentapi_process_open_fds",
        help: "Number of open file descriptors (as of the previous scrape; counted without blocking)",
        registers: [this.registry],
        collect() {
          count();
          this.set(openFds);
        },
      });
    }
    const pool = new Gauge({
      name: "agentapi_db_pool_connections",
      help: "Database pool connections by state (total, idle, waiting clients)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const s = poolStats();
        if (!s) return;
        this.set({ state: "total" }, s.total);
        this.set({ state: "idle" }, s.idle);
        this.set({ state: "waiting" }, s.waiting);
      },
    });
    void pool;
    new Gauge({
      name: "agentapi_db_pool_max_connections",
      help: "The database pool's size limit (DB_POOL_MAX); 0 on the embedded database (no pool)",
      registers: [this.registry],
      collect() {
        const s = poolStats();
        if (s) this.set(s.max);
      },
    });
    const ready = () => this.#ready?.() ?? Promise.resolve(true);
    new Gauge({
      name: "agentapi_ready",
      help: "1 when this replica is ready (the /readyz checks pass), 0 otherwise",
      registers: [this.registry],
      async collect() {
        this.set((await ready()) ? 1 : 0);
      },
    });
    this.#fleetGauges();
    // Zero from the start, so that rate() over a quiet fleet is 0 rather than no data.
    for (const outcome of ["offered", "applying", "applied", "failed"]) this.#deliveries.inc({ outcome }, 0);
  }

  /** The gauges read from the database (fleet-wide, no tenant label), one read per scrape. */
  #fleetGauges(): void {
    const figures = () => this.#readFigures();
    new Gauge({
      name: "agentapi_agents",
      help: "Agents of the whole fleet by status (online, offline); every replica reports the same",
      labelNames: ["status"] as const,
      registers: [this.registry],
      async collect() {
        const f = await figures();
        if (!f) return;
        this.set({ status: "online" }, f.agents.online);
        this.set({ status: "offline" }, f.agents.offline);
      },
    });
    new Gauge({
      name: "agentapi_deliveries_stalled",
      help: "Offered or applying deliveries with no report for DELIVERY_STALL_SECONDS (whole fleet)",
      registers: [this.registry],
      async collect() {
        const f = await figures();
        if (f) this.set(f.deliveriesStalled);
      },
    });
    new Gauge({
      name: "agentapi_rollouts",
      help: "Rollouts of the whole fleet by state",
      labelNames: ["state"] as const,
      registers: [this.registry],
      async collect() {
        const f = await figures();
        if (!f) return;
        for (const [state, n] of Object.entries(f.rollouts)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: "agentapi_rollouts_self_paused",
      help: "Paused rollouts that paused themselves (more agents failed than their budget allows)",
      registers: [this.registry],
      async collect() {
        const f = await figures();
        if (f) this.set(f.rolloutsSelfPaused);
      },
    });
  }

  /**
   * The fleet figures for this scrape. A failed read (database down) leaves the gauges at their
   * previous values rather than failing the scrape: readiness and the pool say what is wrong.
   */
  #readFigures(): Promise<FleetFigures | undefined> {
    const source = this.#fleetFigures;
    if (!source) return Promise.resolve(undefined);
    // The gauges of one scrape are collected together: they share the read in flight.
    this.#figures ??= source()
      .catch(() => undefined)
      .finally(() => {
        this.#figures = undefined;
      });
    return this.#figures;
  }

  /** Where the fleet-wide gauges come from (set once the services exist). */
  setFleetFiguresSource(source: () => Promise<FleetFigures>): void {
    this.#fleetFigures = source;
  }

  /** Where `agentapi_ready` comes from (the same checks as /readyz). */
  setReadinessSource(source: () => Promise<boolean>): void {
    this.#ready = source;
  }

  /** One finished REST request. `route` is the route template, never the raw path. */
  httpRequest(route: string, method: string, status: number, seconds: number): void {
    this.#httpRequests.inc({ route, method, status: String(status) });
    this.#httpDuration.observe({ route, method }, seconds);
  }

  authFailure(transport: "rest" | "opamp", reason: string): void {
    this.#authFailures.inc({ transport, reason });
  }

  auditEvent(action: string): void {
    this.#auditEvents.inc({ action });
  }

  /** Reports the connection registry's size at scrape time. */
  setConnectedAgentsSource(source: () => number): void {
    this.#connectedAgents = source;
  }

  opampConnect(transport: string, credential: "enrollment" | "agent"): void {
    this.#opampConnects.inc({ transport, credential });
  }

  opampDisconnect(transport: string, reason: string): void {
    this.#opampDisconnects.inc({ transport, reason });
  }

  enrollment(kind: "new" | "re-enrollment"): void {
    this.#enrollments.inc({ kind });
  }

  opampMessage(facets: readonly string[], seconds: number): void {
    if (facets.length === 0) this.#heartbeats.inc();
    for (const facet of facets) this.#opampMessages.inc({ facet });
    this.#opampLatency.observe(seconds);
  }

  opampRejected(reason: string): void {
    this.#opampRejected.inc({ reason });
  }

  instanceUidAssigned(why: "duplicate" | "requested"): void {
    this.#instanceUidsAssigned.inc({ why });
  }

  /** A connection attempt refused before any session (draining, throttled, a bad credential). */
  opampRefused(reason: string): void {
    this.#opampRefused.inc({ reason });
  }

  /** Delivery rows that reached `outcome`. */
  deliveries(outcome: "offered" | "applying" | "applied" | "failed", n = 1): void {
    if (n > 0) this.#deliveries.inc({ outcome }, n);
  }

  /** One KMS call; `errorKind` when it failed. */
  kmsCall(operation: KmsOperation, seconds: number, errorKind?: string): void {
    this.#kmsDuration.observe({ operation }, seconds);
    if (errorKind) this.#kmsErrors.inc({ operation, kind: errorKind });
  }

  /** A fleet event handled by this replica, `seconds` after its commit. */
  fleetEventHandled(seconds: number): void {
    this.#fleetEventLag.observe(Math.max(0, seconds));
  }

  commandSent(type: "restart"): void {
    this.#commandsSent.inc({ type });
  }

  /** Prometheus text exposition of every metric in this registry. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
