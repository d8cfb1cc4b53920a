/**
 * Seeds a running agent-api for the contract fuzzing (scripts/contract-fuzz.sh): a tenant with a
 * tenant key, a template with two revisions, an assignment, a secret, own-telemetry settings, an
 * enrollment token, one enrolled agent that stays connected and a rollout that bakes for an hour,
 * so that tenant-scoped paths point at real data.
 *
 * Usage: node --import tsx scripts/contract-fuzz-seed.ts <base-url> <operator-key> <out-file>
 * Writes `NAME=value` lines to <out-file> once everything exists, then keeps the agent connected
 * until it gets SIGTERM.
 */
import { writeFileSync } from "node:fs";
import { TestAgent } from "../test/helpers/opamp/supervisor.js";

const [baseUrl, operatorKey, outFile] = process.argv.slice(2);
if (!baseUrl || !operatorKey || !outFile) {
  console.error("usage: contract-fuzz-seed.ts <base-url> <operator-key> <out-file>");
  process.exit(2);
}

async function call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${operatorKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const CONTENT = (port: number) =>
  `receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:${port}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n`;

const tenant = await call("POST", "/tenants", { displayName: "Contract fuzz" });
// Deleting a tenant is fuzzed on a tenant of its own, so the others keep their data.
const doomed = await call("POST", "/tenants", { displayName: "Contract fuzz, deleted" });
const t = `/tenants/${String(tenant.id)}`;
const key = await call("POST", `${t}/api-keys`, { name: "fuzz", role: "admin" });
await call("PUT", `${t}/config-templates/base`, { content: CONTENT(4317), description: "fuzz base" });
await call("PUT", `${t}/config-templates/base`, { content: CONTENT(4318), message: "second" });
await call("PUT", `${t}/assignments/everyone`, { selector: "", template: "base" });
await call("PUT", `${t}/secrets/otlp_token`, { value: "s3cr3t-value" });
const token = await call("POST", `${t}/enrollment-tokens`, { name: "hosts" });

const agent = new TestAgent({
  url: `${baseUrl.replace(/^http/, "ws")}/v1/opamp`,
  token: String(token.token),
});
await agent.start();
await agent.waitForConnection(2);
await agent.settle();

await call("PUT", `${t}/own-telemetry`, {
  metrics: { endpoint: "https://otlp.example.com/v1/metrics" },
});
await call("PUT", `${t}/assignments/held`, { selector: "fuzz=held", template: "base", revision: 1 });
const rollout = await call("POST", `${t}/rollouts`, {
  assignment: "held",
  revision: 2,
  strategy: { waves: ["100%"], bakeSeconds: 3600 },
});

writeFileSync(
  outFile,
  [
    `FUZZ_TENANT_ID=${String(tenant.id)}`,
    `FUZZ_DOOMED_TENANT_ID=${String(doomed.id)}`,
    `FUZZ_TENANT_KEY=${String(key.key)}`,
    `FUZZ_KEY_ID=${String(key.id)}`,
    `FUZZ_TOKEN_ID=${String(token.id)}`,
    `FUZZ_INSTANCE_UID=${agent.instanceUidString}`,
    `FUZZ_ROLLOUT_ID=${String(rollout.id)}`,
    "",
  ].join("\n"),
);

const stop = () => {
  agent.stop().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setInterval(() => undefined, 60_000);
