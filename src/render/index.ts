/** The config renderer: Handlebars templates → per-agent OpenTelemetry Collector YAML. */
export { type ConfigFile, configHash, configHashHex } from "./config-hash.js";
export type { RenderFailureReason } from "./failure.js";
export {
  type CompiledTemplate,
  compileTemplate,
  MAX_OUTPUT_LENGTH,
  MAX_TEMPLATE_BYTES,
  type RenderContext,
  type RenderResult,
  renderConfig,
  TemplateCache,
  TemplateCompileError,
  type TemplateIssue,
  validateTemplate,
} from "./renderer.js";
export { maskSecretValues, SECRET_MASK } from "./secret-mask.js";
export {
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SecretNotFoundError,
  type SecretResolver,
  SecretUnavailableError,
} from "./secrets.js";
