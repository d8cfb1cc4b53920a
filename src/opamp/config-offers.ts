/**
 * The remote configs offered on one connection, and whether an agent's report of a config hash
 * means it runs something other than the last offer (so the session decides again) or is only
 * catching up. Over a WebSocket messages arrive in order: a report of a hash the agent ran or was
 * offered before the last offer was sent before it read that offer. Over plain HTTP the poll's
 * answer with an offer can be lost, so there any other hash decides again.
 */
import type { Transport } from "./session.js";

export class ConfigOffers {
  #last: string | undefined;
  /** Hashes the agent ran or was offered before the last offer, until it reports the last one. */
  readonly #earlier = new Set<string>();

  constructor(private readonly transport: Transport) {}

  /** An offer of `hash` goes out; the agent reported running `running` (if anything). */
  offered(hash: string, running: string | undefined): void {
    for (const earlier of [this.#last, running])
      if (earlier !== undefined && earlier !== hash) this.#earlier.add(earlier);
    this.#last = hash;
  }

  /** Whether a report of `reported` says the agent runs something other than the last offer. */
  runsOther(reported: string | undefined): boolean {
    if (reported === undefined) return false;
    if (reported === this.#last) {
      this.#earlier.clear();
      return false;
    }
    return !(this.transport === "websocket" && this.#earlier.has(reported));
  }
}
