/**
 * What the fleet looks like right now, for the operator's gauges: agents online and offline (the
 * one liveness rule), deliveries stalled (the same rule as the deliveries list), rollouts by
 * state. Fleet-wide, so every replica reports the same figures (dashboards take their max).
 */
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/types.js";
import type { FleetFigures } from "../../metrics.js";
import type { Liveness } from "../agents/liveness.js";
import { countFleet, countRollouts } from "./repository.js";

export class FleetFigureReader {
  constructor(
    private readonly db: Db,
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    private readonly deliveryStallMs: number,
  ) {}

  async read(): Promise<FleetFigures> {
    const now = this.clock.now();
    const [fleet, rollouts] = await Promise.all([
      countFleet(this.db, this.liveness.onlineSql(now), new Date(now - this.deliveryStallMs)),
      countRollouts(this.db),
    ]);
    const figures: FleetFigures = {
      agents: { online: fleet.agents_online, offline: fleet.agents_offline },
      deliveriesStalled: fleet.deliveries_stalled,
      rollouts: { running: 0, paused: 0, completed: 0, aborted: 0, superseded: 0 },
      rolloutsSelfPaused: 0,
    };
    for (const r of rollouts) {
      if (r.state in figures.rollouts) figures.rollouts[r.state as keyof FleetFigures["rollouts"]] += r.n;
      if (r.self_paused) figures.rolloutsSelfPaused += r.n;
    }
    return figures;
  }
}
