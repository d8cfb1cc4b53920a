/**
 * The collector config template the bench assigns to its agents: the shape of the starter
 * template (templates/collector/base.yaml.hbs), rendered per agent (labels and instance UID, so
 * every agent gets its own config hash), with a `bench.revision` attribute that each fan-out
 * round changes, so every round is a new revision with a new config map for every agent.
 */
export function templateContent(revision: number): string {
  return `# agent-api bench template, revision ${revision}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{default (label "otlp_grpc_endpoint") "0.0.0.0:4317"}}
      http:
        endpoint: {{default (label "otlp_http_endpoint") "0.0.0.0:4318"}}

processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  batch: {}
  resource:
    attributes:
      - key: deployment.environment
        value: {{default (label "env") "unknown"}}
        action: upsert
      - key: xscaler.agent.instance_uid
        value: {{agent.instanceUid}}
        action: upsert
      - key: bench.revision
        value: "${revision}"
        action: upsert

exporters:
  debug:
    verbosity: {{default (label "debug_verbosity") "basic"}}

service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, resource, batch]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, resource, batch]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, resource, batch]
      exporters: [debug]
`;
}
