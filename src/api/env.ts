import type { Actor } from "../fleet/actor.js";

/** Per-request values set by middleware. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    actor: Actor;
  };
}
