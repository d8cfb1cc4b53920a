/**
 * The OpAMP bit sets (capabilities and flags) as bigint constants, derived from the enums that
 * buf generates from opamp.proto: one definition, so a bit can never drift from the wire schema.
 * The uint64 fields are `bigint` in protobuf-es, so the bits are bigints too.
 *
 * Both the wire layer (src/opamp) and the rules (src/fleet) read them from here.
 */
import {
  AgentCapabilities,
  AgentToServerFlags,
  ServerCapabilities,
  ServerToAgentFlags,
} from "../gen/opamp/v1/opamp_pb.js";

/** `{ AcceptsRemoteConfig: 2n, … }` from a generated enum whose members are `Prefix_Name`. */
type BitsOf<E, P extends string> = {
  readonly [K in keyof E as K extends `${P}${infer N}`
    ? N extends "Unspecified"
      ? never
      : N
    : never]: bigint;
};

function bitsOf<E extends object, P extends string>(generated: E, prefix: P): BitsOf<E, P> {
  const bits: Record<string, bigint> = {};
  for (const [name, value] of Object.entries(generated)) {
    // A numeric TypeScript enum also maps values back to names: skip those entries, and 0.
    if (typeof value === "number" && value !== 0 && name.startsWith(prefix)) {
      bits[name.slice(prefix.length)] = BigInt(value);
    }
  }
  return Object.freeze(bits) as BitsOf<E, P>;
}

/** Bits of `AgentToServer.capabilities`. */
export const AgentCapability = bitsOf(AgentCapabilities, "AgentCapabilities_");
/** Bits of `ServerToAgent.capabilities`. */
export const ServerCapability = bitsOf(ServerCapabilities, "ServerCapabilities_");
/** Bits of `AgentToServer.flags`. */
export const AgentToServerFlag = bitsOf(AgentToServerFlags, "AgentToServerFlags_");
/** Bits of `ServerToAgent.flags`. */
export const ServerToAgentFlag = bitsOf(ServerToAgentFlags, "ServerToAgentFlags_");

/** Name of one agent capability bit, e.g. `"acceptsRemoteConfig"`. */
export type AgentCapabilityName = Uncapitalize<keyof typeof AgentCapability & string>;

const AGENT_CAPABILITY_NAMES: ReadonlyArray<readonly [AgentCapabilityName, bigint]> = Object.entries(
  AgentCapability,
)
  .map(
    ([name, bit]) => [`${name.charAt(0).toLowerCase()}${name.slice(1)}` as AgentCapabilityName, bit] as const,
  )
  .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));

export function hasCapability(bits: bigint, capability: bigint): boolean {
  return (bits & capability) !== 0n;
}

/**
 * The capabilities set in a bitmask as camelCase names in bit order, e.g. `0x3n` →
 * `["reportsStatus", "acceptsRemoteConfig"]`. Bits the spec does not define are left out.
 */
export function decodeAgentCapabilities(bits: bigint): AgentCapabilityName[] {
  return AGENT_CAPABILITY_NAMES.filter(([, bit]) => (bits & bit) !== 0n).map(([name]) => name);
}

const DEFINED_BITS = AGENT_CAPABILITY_NAMES.reduce((all, [, bit]) => all | bit, 0n);
const NAMES_BY_BITS = new Map<bigint, readonly string[]>();

/**
 * The names the admin API shows: the defined capabilities, then any undefined bit as
 * `bit<n>` (an agent newer than our schema). Memoized: a fleet has a handful of distinct sets.
 */
export function capabilityNames(bits: bigint): string[] {
  const cached = NAMES_BY_BITS.get(bits);
  if (cached) return [...cached];
  const names: string[] = decodeAgentCapabilities(bits);
  for (let n = 0n, unknown = bits & ~DEFINED_BITS; unknown !== 0n; n++, unknown >>= 1n) {
    if ((unknown & 1n) !== 0n) names.push(`bit${n.toString()}`);
  }
  if (NAMES_BY_BITS.size < 1024) NAMES_BY_BITS.set(bits, names);
  return [...names];
}
