/**
 * Keeps offline agents' deliveries truthful: after a change, one replica (the one that claims the
 * event) records `pending` rows for the agents that are not connected anywhere, so roll-ups and
 * `GET /deliveries?status=pending` show who is still waiting. Runs in the background, one change
 * at a time, so it never delays pushes to connected agents.
 */
import type { Logger } from "../../logger.js";
import type { FleetEvent, FleetEventFeed } from "../events.js";
import type { ConfigPlanner } from "./planner.js";

export class OfflineDeliveryPlanner {
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly planner: ConfigPlanner,
    private readonly feed: FleetEventFeed,
    private readonly replicaId: string,
    private readonly logger: Logger,
  ) {}

  /** A FleetEventFeed subscriber; returns at once, the work is queued. */
  onFleetEvent(event: FleetEvent): void {
    if (event.kind !== "config.changed" && event.kind !== "agent.labels_changed") return;
    this.#queue = this.#queue.then(() => this.#plan(event));
  }

  async #plan(event: FleetEvent): Promise<void> {
    try {
      if (!(await this.feed.claim(event, this.replicaId))) return;
      const planned = await this.planner.planOffline(event.tenantId, {
        instanceUids: "instanceUids" in event.payload ? event.payload.instanceUids : undefined,
      });
      if (planned > 0)
        this.logger.info({ tenantId: event.tenantId, planned }, "offline agents' deliveries planned");
    } catch (err) {
      this.logger.warn({ err, eventId: event.id }, "planning offline agents' deliveries failed");
    }
  }

  /** Waits for queued work (shutdown). */
  async drain(): Promise<void> {
    await this.#queue;
  }
}
