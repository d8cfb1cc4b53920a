/**
 * The operations kit agrees with the server: every metric the Grafana dashboard and the alert
 * rules query exists on a running server's /metrics (a renamed metric would leave a panel empty
 * and an alert silent), and every alert names a runbook section the README has.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Scrape, scrape } from "../helpers/metrics.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

/** Series Prometheus makes itself, not scraped from the server. */
const PROMETHEUS_OWN = new Set(["up"]);
const PROMQL_WORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/** The metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings (label values)
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // label lists
  const names = [...stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
    .filter((m) => !m[2]) // not a function call
    .map((m) => m[1] ?? "")
    .filter((n) => !PROMQL_WORDS.has(n.toLowerCase()) && !/^\d/.test(n));
  return [...new Set(names)];
}

/** Whether the scrape shows `name` (a histogram's _bucket/_sum/_count count even before any observation). */
function exposes(s: Scrape, name: string): boolean {
  if (s.samples.has(name) || s.families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && s.families.has(base);
}

function dashboardExprs(): string[] {
  const dashboard = JSON.parse(read("docker/grafana/dashboards/agent-api.json"));
  const exprs: string[] = [];
  for (const panel of dashboard.panels) for (const t of panel.targets ?? []) exprs.push(t.expr);
  for (const v of dashboard.templating.list)
    if (v.definition) exprs.push(v.definition.replace(/^label_values\((.*), \w+\)$/, "$1"));
  return exprs;
}

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}
function rules(): Rule[] {
  const file = parse(read("docker/prometheus/agent-api-rules.yml")) as { groups: Array<{ rules: Rule[] }> };
  return file.groups.flatMap((g) => g.rules);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function readmeAnchors(): Set<string> {
  const headings = [...read("README.md").matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1] ?? "");
  return new Set(
    headings.map((h) =>
      h
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-"),
    ),
  );
}

let srv: TestServer;
let scraped: Scrape;
beforeAll(async () => {
  srv = await startTestServer();
  scraped = await scrape(srv.url);
});
afterAll(() => srv?.stop());

describe("the dashboard and the alert rules", () => {
  it("parse metric names out of PromQL", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(agentapi_http_request_duration_seconds_bucket{job="agent-api", route=~"a|b"}[5m]))) > 0.5 and on(instance) up == 1',
      ),
    ).toEqual(["agentapi_http_request_duration_seconds_bucket", "up"]);
  });

  it("query only metrics a running server exposes", () => {
    const used = new Set([...dashboardExprs(), ...rules().map((r) => r.expr)].flatMap(metricNames));
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((n) => !PROMETHEUS_OWN.has(n) && !exposes(scraped, n));
    expect(missing).toEqual([]);
  });

  it("cover what an operator watches: fleet, deliveries, rollouts, OpAMP, REST, pool, event loop, KMS", () => {
    const used = new Set(dashboardExprs().flatMap(metricNames));
    for (const name of [
      "agentapi_agents",
      "agentapi_enrollments_total",
      "agentapi_deliveries_total",
      "agentapi_deliveries_stalled",
      "agentapi_rollouts",
      "agentapi_opamp_messages_total",
      "agentapi_opamp_message_duration_seconds_bucket",
      "agentapi_http_request_duration_seconds_bucket",
      "agentapi_db_pool_connections",
      "agentapi_nodejs_eventloop_lag_p99_seconds",
      "agentapi_kms_errors_total",
    ])
      expect(used).toContain(name);
  });

  it("give every alert a runbook annotation naming a README section", () => {
    const anchors = readmeAnchors();
    for (const rule of rules()) {
      const runbook = rule.annotations.runbook ?? "";
      expect(runbook, rule.alert).toMatch(/^README\.md#runbook-[a-z0-9-]+$/);
      expect(anchors, `${rule.alert}: ${runbook}`).toContain(runbook.split("#")[1]);
    }
  });
});
