/**
 * What a report becomes in the agents table: the columns of the facets it carried, with the
 * tenant's secret values masked in its effective config first. Masking fails closed: when a secret
 * cannot be decrypted now, the effective config is left out (the stored one stays), never stored
 * in clear; the rest of the report is not held up by a KMS outage.
 */
import { UnavailableError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import type { ReportColumns } from "./session-repository.js";
import type { AgentReport } from "./types.js";

type FileMap = Record<string, { body: string; contentType: string }>;

export class ReportColumnsBuilder {
  constructor(
    /** Replaces the tenant's secret values in texts (SecretService.redact; throws UnavailableError). */
    private readonly redact: (tenantId: string, texts: string[]) => Promise<string[]>,
    private readonly logger: Logger,
  ) {}

  /**
   * The report with the tenant's secret values masked in its effective config, before anything
   * stores it. When they cannot be masked now (a secret cannot be decrypted), the effective config
   * is left out (the stored one stays): never stored in clear, and the rest of the report (status,
   * health, the session itself) is not held up by a KMS outage.
   */
  async #redacted(tenantId: string, report: AgentReport): Promise<AgentReport> {
    if (!report.effectiveConfig) return report;
    try {
      const files = await this.redactFiles(tenantId, report.effectiveConfig.files);
      return { ...report, effectiveConfig: { files } };
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      this.logger.warn(
        { tenantId, err: err.message },
        "effective config not stored: its secrets cannot be masked now",
      );
      const { effectiveConfig: _dropped, ...rest } = report;
      return rest;
    }
  }

  /** Config files with the tenant's secret values masked (also applied again when shown). */
  async redactFiles(tenantId: string, files: FileMap): Promise<FileMap> {
    const entries = Object.entries(files);
    const bodies = await this.redact(
      tenantId,
      entries.map(([, f]) => f.body),
    );
    const out: FileMap = {};
    entries.forEach(([name, f], i) => {
      out[name] = { body: bodies[i] ?? "", contentType: f.contentType };
    });
    return out;
  }

  /** The stored columns of a report heard at `seenAt`, its effective config masked (or left out). */
  async of(tenantId: string, reported: AgentReport, seenAt: Date): Promise<ReportColumns> {
    const report = await this.#redacted(tenantId, reported);
    return {
      seen_at: seenAt.toISOString(),
      capabilities: report.capabilities.toString(),
      sequence_num: report.sequenceNum.toString(),
      ...(report.description ? { description: JSON.stringify(report.description) } : {}),
      ...(report.health ? { health: JSON.stringify(report.health) } : {}),
      ...(report.effectiveConfig ? { effective_config: JSON.stringify(report.effectiveConfig.files) } : {}),
      ...(report.remoteConfigStatus
        ? { remote_config_status: JSON.stringify(report.remoteConfigStatus) }
        : {}),
      ...(report.availableComponents ? { available_components_hash: report.availableComponents.hash } : {}),
      // Decided here, not by parsing the status JSON again in SQL for every row.
      ...(report.remoteConfigStatus?.status === "APPLIED" && report.remoteConfigStatus.lastRemoteConfigHash
        ? { running_config_hash: report.remoteConfigStatus.lastRemoteConfigHash }
        : {}),
      ...(report.customCapabilities
        ? { custom_capabilities: JSON.stringify(report.customCapabilities) }
        : {}),
    };
  }
}
