/**
 * The supervisor's handling of a remote config: a hash it already acted on is skipped; a new
 * one is reported APPLYING, applied by the test's hook (standing in for the collector restart)
 * one config at a time and in order, then reported APPLIED with the new effective config and
 * health, or FAILED with the error.
 */

import type { AgentRemoteConfig } from "../../../src/gen/opamp/v1/opamp_pb.js";
import type { ApplyConfig, ApplyConfigResult, ConfigFile } from "./agent-options.js";
import { bytesEqual, ConfigStatus, runningHealth, unixNanos } from "./agent-wire.js";
import { shortHash } from "./message-summaries.js";
import type { ReportedStatus } from "./reported-status.js";

/** What the remote-config handling needs from the agent. */
export interface RemoteConfigEvents {
  note(line: string): void;
  protocolError(what: string): void;
  /** Count an apply as background work until it settles. */
  track(work: Promise<unknown>): void;
  /** Send whatever the apply changed, if a client is connected. */
  flush(): void;
}

const textDecoder = new TextDecoder();

export class RemoteConfigHandler {
  /** Hash of the last remote config acted on (applied or failed); what a restart persists. */
  private lastConfigHash: Uint8Array | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly applyConfig: ApplyConfig;
  private readonly status: ReportedStatus;
  private readonly events: RemoteConfigEvents;

  constructor(
    applyConfig: ApplyConfig,
    lastConfigHash: Uint8Array | undefined,
    status: ReportedStatus,
    events: RemoteConfigEvents,
    private readonly reportsApplying = true,
  ) {
    this.applyConfig = applyConfig;
    this.lastConfigHash = lastConfigHash ? new Uint8Array(lastConfigHash) : undefined;
    this.status = status;
    this.events = events;
  }

  /** A `remote_config` arrived (the agent has AcceptsRemoteConfig). */
  receive(remoteConfig: AgentRemoteConfig): void {
    const hash = new Uint8Array(remoteConfig.configHash);
    if (this.lastConfigHash && bytesEqual(hash, this.lastConfigHash)) {
      this.events.note(`remote config ${shortHash(hash)} unchanged, nothing to apply`);
      return;
    }
    this.lastConfigHash = hash;
    const config = new Map<string, ConfigFile>();
    for (const [name, file] of Object.entries(remoteConfig.config?.configMap ?? {})) {
      config.set(name, { body: textDecoder.decode(file.body), contentType: file.contentType });
    }
    this.events.note(`remote config ${shortHash(hash)} received (${config.size} entries)`);
    if (this.reportsApplying) this.setConfigStatus(hash, ConfigStatus.APPLYING, "");
    // The supervisor applies the config in its agent-process goroutine, not in the receive path,
    // so later messages (an offer in the same reply, say) are processed meanwhile. Applies run
    // one at a time, in order.
    this.chain = this.chain.then(() => this.apply(hash, config));
    this.events.track(this.chain);
  }

  private async apply(hash: Uint8Array, config: Map<string, ConfigFile>): Promise<void> {
    let result: ApplyConfigResult;
    try {
      result = await this.applyConfig(config, hash);
    } catch (err) {
      result = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (result.ok) {
      this.status.setEffectiveConfig(result.effectiveConfig ?? config.get("")?.body ?? "");
      this.status.setHealth(runningHealth(unixNanos()));
      this.setConfigStatus(hash, ConfigStatus.APPLIED, "");
      this.events.note(`remote config ${shortHash(hash)} applied`);
    } else {
      this.setConfigStatus(hash, ConfigStatus.FAILED, result.error);
      this.events.note(`remote config ${shortHash(hash)} failed: ${result.error}`);
    }
    this.events.flush();
  }

  /** opamp-go `SetRemoteConfigStatus` refuses a status without a hash. */
  private setConfigStatus(
    hash: Uint8Array,
    status: (typeof ConfigStatus)[keyof typeof ConfigStatus],
    errorMessage: string,
  ): void {
    if (hash.byteLength === 0) {
      this.events.protocolError("remote_config without config_hash: its status cannot be reported");
      return;
    }
    this.status.setConfigStatus(hash, status, errorMessage);
  }
}
