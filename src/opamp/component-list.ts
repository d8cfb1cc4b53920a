/**
 * One connection's handling of the agent's component list (AvailableComponents), for the
 * pre-flight check: a list the agent sends is stored (once per hash and tenant); a hash the
 * server does not know is answered with ReportAvailableComponents, once per connection, and
 * config waits for the list until it comes or COMPONENTS_WAIT_MS pass (an agent that does not
 * answer is not held for ever). A refused list (too large) ends the wait too: it is shown in the
 * agent view and logged, and nothing is checked against it.
 */
import type { Clock } from "../clock.js";
import type { AgentRef } from "../fleet/agents/sessions.js";
import type { AgentReport } from "../fleet/agents/types.js";
import type { ComponentCatalog } from "../fleet/components/catalog.js";
import type { ServerToAgent } from "../gen/opamp/v1/opamp_pb.js";
import type { Logger } from "../logger.js";
import { ServerToAgentFlag } from "../protocol/capabilities.js";

/** How long config waits for a component list the server asked for. */
export const COMPONENTS_WAIT_MS = 10_000;

export class ComponentListRequest {
  /** The hash this connection asked the list for. */
  #askedHash: string | undefined;
  /** Since when config waits for the list asked for (Clock ms), while it does. */
  #waitingSince: number | undefined;

  constructor(
    private readonly ref: AgentRef,
    private readonly catalog: ComponentCatalog,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Config waits: the list was asked for and has not come. */
  get waiting(): boolean {
    return this.#waitingSince !== undefined;
  }

  /**
   * Takes one message's report; sets the flag on `reply` when the list is to be asked for.
   * Returns true when a wait ended with this message (config is to be decided now).
   */
  async note(report: AgentReport, reply: ServerToAgent): Promise<boolean> {
    const { tenantId, instanceUid } = this.ref;
    const waitedSince = this.#waitingSince;
    const reported = report.availableComponents;
    if (!reported) {
      if (waitedSince === undefined || this.clock.now() - waitedSince < COMPONENTS_WAIT_MS) return false;
      this.#waitingSince = undefined;
      this.logger.info(
        { tenantId, instanceUid },
        "the agent did not send its available components; config is no longer held for them",
      );
      return true;
    }
    if (reported.components || reported.listBytes > 0) {
      await this.catalog.store(tenantId, instanceUid, reported);
      this.#waitingSince = undefined;
      return waitedSince !== undefined;
    }
    if (await this.catalog.find(tenantId, reported.hash)) {
      this.#waitingSince = undefined;
      return waitedSince !== undefined;
    }
    if (this.#askedHash !== reported.hash) {
      this.#askedHash = reported.hash;
      this.#waitingSince = this.clock.now();
      reply.flags |= ServerToAgentFlag.ReportAvailableComponents;
    }
    return false;
  }
}
