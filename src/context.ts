/**
 * The composition root: every dependency of the server is built here, for production and tests
 * alike. Tests pass overrides (a logger that captures, later a fake KMS or clock) and otherwise
 * get exactly what production gets.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { type Clock, SystemClock } from "./clock.js";
import { type Config, ConfigError } from "./config.js";
import { type DatabaseHandle, openDatabase } from "./db/database.js";
import { migrateToLatest } from "./db/migrator.js";
import { AdminKeyService } from "./fleet/admin-keys/service.js";
import { AgentAdmin } from "./fleet/agents/admin.js";
import { AgentAuthenticator } from "./fleet/agents/authenticator.js";
import { Liveness } from "./fleet/agents/liveness.js";
import { ReportColumnsBuilder } from "./fleet/agents/report-columns.js";
import { AgentRestarts } from "./fleet/agents/restarts.js";
import { AgentSessions } from "./fleet/agents/sessions.js";
import { AuditLog } from "./fleet/audit/service.js";
import { ComponentCatalog } from "./fleet/components/catalog.js";
import { ApplyService } from "./fleet/configs/apply.js";
import { AssignmentService } from "./fleet/configs/assignments.js";
import { DesiredConfigs } from "./fleet/configs/desired.js";
import { ConfigExplainer } from "./fleet/configs/explain.js";
import { ConfigPlanner } from "./fleet/configs/planner.js";
import { TemplateService } from "./fleet/configs/templates.js";
import { DeliveryService } from "./fleet/deliveries/service.js";
import { EnrollmentTokenService } from "./fleet/enrollment/tokens.js";
import { FleetEventFeed } from "./fleet/events.js";
import { IdempotencyStore } from "./fleet/idempotency/store.js";
import { FleetFigureReader } from "./fleet/operations/figures.js";
import { OwnTelemetryService } from "./fleet/own-telemetry/service.js";
import { ReplicaPresence } from "./fleet/replicas.js";
import { RolloutService } from "./fleet/rollouts/service.js";
import { SecretService } from "./fleet/secrets/service.js";
import { TenantService } from "./fleet/tenants/service.js";
import { createKms, EnvelopeCipher, type Kms, MeteredKms } from "./kms/index.js";
import { createLogger, type Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { startTracing } from "./tracing.js";

export interface Services {
  audit: AuditLog;
  tenants: TenantService;
  adminKeys: AdminKeyService;
  enrollmentTokens: EnrollmentTokenService;
  idempotency: IdempotencyStore;
  /** The liveness rule (item status, list filters, offline planner, HTTP sweep). */
  liveness: Liveness;
  agentAuthenticator: AgentAuthenticator;
  agentSessions: AgentSessions;
  agentAdmin: AgentAdmin;
  agentRestarts: AgentRestarts;
  secrets: SecretService;
  templates: TemplateService;
  assignments: AssignmentService;
  deliveries: DeliveryService;
  /** The component lists of collector builds (AvailableComponents) and the pre-flight check. */
  components: ComponentCatalog;
  desiredConfigs: DesiredConfigs;
  configPlanner: ConfigPlanner;
  explainer: ConfigExplainer;
  apply: ApplyService;
  ownTelemetry: OwnTelemetryService;
  /** Staged rollouts of an assignment's revision (issue 12); the driver runs in server.ts. */
  rollouts: RolloutService;
}

/** Mutable process state shared by transports (readiness). */
export interface RuntimeState {
  draining: boolean;
}

export interface AppContext {
  config: Config;
  logger: Logger;
  /** Time for every rule that depends on it (liveness, grace periods, stalls, retries). */
  clock: Clock;
  metrics: Metrics;
  database: DatabaseHandle;
  services: Services;
  state: RuntimeState;
  /** This process's id among the replicas sharing the database. */
  replicaId: string;
  replica: ReplicaPresence;
  fleetEvents: FleetEventFeed;
  /** The CA bundle offered to agents with their keys (OPAMP_OFFER_CA_FILE), read at start. */
  offerCaCert: Uint8Array | undefined;
  /** Releases what createContext acquired (the database). */
  close(): Promise<void>;
}

export interface ContextOverrides {
  logger?: Logger;
  database?: DatabaseHandle;
  /** The key management service (tests: an emulator-backed or local one); default from config. */
  kms?: Kms;
  /** Time (tests: a ManualClock); default the system clock. */
  clock?: Clock;
}

/** Builds the context: opens the database, runs migrations when configured, wires services. */
export async function createContext(config: Config, overrides: ContextOverrides = {}): Promise<AppContext> {
  const logger = overrides.logger ?? createLogger(config.log.level);
  // Read before anything is opened: a bad file stops start-up with nothing to clean up.
  const offerCaCert = config.opamp.offerCaFile ? await readOfferCa(config.opamp.offerCaFile) : undefined;
  // Before the database opens: its statements are traced only when tracing is on at that point.
  const tracing = config.tracing ? await startTracing(config.tracing) : undefined;
  if (config.tracing) logger.info({ endpoint: config.tracing.endpoint }, "exporting OpenTelemetry traces");
  let database: DatabaseHandle;
  try {
    database = overrides.database ?? (await openDatabase(config.database, logger.child({ component: "db" })));
  } catch (err) {
    await tracing?.shutdown();
    throw err;
  }
  try {
    if (config.database.migrateOnStart) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0) logger.info({ applied }, "database migrated");
    }
  } catch (err) {
    await database.close();
    await tracing?.shutdown();
    throw err;
  }
  const metrics = new Metrics(() => database.poolStats());
  const clock =
    overrides.clock ?? new SystemClock((err) => logger.error({ err }, "a background timer task failed"));
  const { db } = database;
  const audit = new AuditLog(db, metrics);
  const replicaId = config.replicaId ?? `${hostname().slice(0, 40)}-${randomBytes(4).toString("hex")}`;
  const kms = new MeteredKms(overrides.kms ?? (await createKms(config.kms)), metrics);
  const secrets = new SecretService(
    db,
    new EnvelopeCipher(kms),
    audit,
    logger.child({ component: "secrets" }),
    config.secrets.maxValueBytes,
  );
  const desiredConfigs = new DesiredConfigs(db, secrets);
  const deliveries = new DeliveryService(
    db,
    audit,
    clock,
    logger.child({ component: "deliveries" }),
    config.fleet.deliveryStallMs,
    metrics,
  );
  const liveness = new Liveness(config.fleet.livenessFlushMs);
  const figures = new FleetFigureReader(db, liveness, clock, config.fleet.deliveryStallMs);
  metrics.setFleetFiguresSource(() => figures.read());
  const agentsLog = logger.child({ component: "agents" });
  const reportColumns = new ReportColumnsBuilder(
    (tenantId, texts) => secrets.redact(tenantId, texts),
    agentsLog,
  );
  const agentSessions = new AgentSessions(db, clock, agentsLog, reportColumns, {
    replicaId,
    livenessFlushMs: config.fleet.livenessFlushMs,
    liveness,
  });
  const components = new ComponentCatalog(db, clock, logger.child({ component: "components" }));
  const rollouts = new RolloutService(db, audit, clock, config.fleet.deliveryStallMs);
  const templates = new TemplateService(db, audit, rollouts);
  const assignments = new AssignmentService(db, audit, rollouts);
  const services: Services = {
    audit,
    tenants: new TenantService(db, audit),
    adminKeys: new AdminKeyService(
      db,
      audit,
      logger.child({ component: "auth" }),
      config.auth.jwtSecret,
      clock,
    ),
    enrollmentTokens: new EnrollmentTokenService(db, audit),
    idempotency: new IdempotencyStore(db),
    liveness,
    agentAuthenticator: new AgentAuthenticator(db),
    agentSessions,
    agentAdmin: new AgentAdmin(
      db,
      audit,
      liveness,
      clock,
      (tenantId, files) => reportColumns.redactFiles(tenantId, files),
      components,
    ),
    agentRestarts: new AgentRestarts(db, audit, liveness, clock, config.fleet.restartsPerSecond),
    secrets,
    templates,
    assignments,
    deliveries,
    components,
    desiredConfigs,
    configPlanner: new ConfigPlanner(
      db,
      desiredConfigs,
      deliveries,
      components,
      liveness,
      clock,
      logger.child({ component: "planner" }),
    ),
    explainer: new ConfigExplainer(db, desiredConfigs, deliveries, components),
    apply: new ApplyService(db, templates, assignments),
    ownTelemetry: new OwnTelemetryService(
      db,
      secrets,
      audit,
      clock,
      logger.child({ component: "own-telemetry" }),
    ),
    rollouts,
  };
  return {
    config,
    logger,
    clock,
    metrics,
    database,
    services,
    state: { draining: false },
    replicaId,
    offerCaCert,
    replica: new ReplicaPresence(db, replicaId, clock, logger.child({ component: "replica" })),
    fleetEvents: new FleetEventFeed(
      database,
      logger.child({ component: "fleet-events" }),
      {
        pollIntervalMs: config.fleet.eventsPollMs,
        windowMs: 15_000,
        retentionMs: 3_600_000,
      },
      metrics,
    ),
    // Whoever opened the database closes it: a handle passed in (a second replica in a test)
    // belongs to the caller. Spans still buffered are exported last.
    close: async () => {
      if (!overrides.database) await database.close();
      await tracing?.shutdown();
    },
  };
}

/** Reads the PEM CA bundle to offer; a file without a certificate stops start-up. */
async function readOfferCa(path: string): Promise<Uint8Array> {
  const pem = await readFile(path);
  if (!pem.toString("utf8").includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(`invalid configuration:\n  OPAMP_OFFER_CA_FILE: ${path} holds no PEM certificate`);
  }
  return pem;
}
