/**
 * AgentCapabilities bits (opamp.proto), named for the API. Taken from the generated enum so the
 * names can never drift from the wire schema.
 */
import { AgentCapabilities } from "../../gen/opamp/v1/opamp_pb.js";

export const CAPABILITY = {
  ReportsStatus: 0x1n,
  AcceptsRemoteConfig: 0x2n,
  ReportsEffectiveConfig: 0x4n,
  AcceptsOpAMPConnectionSettings: 0x100n,
  ReportsHealth: 0x800n,
  ReportsRemoteConfig: 0x1000n,
  ReportsHeartbeat: 0x2000n,
  ReportsAvailableComponents: 0x4000n,
} as const;

/** Names of the set bits, e.g. ["reportsStatus", "acceptsRemoteConfig"]; unknown bits as "bit<n>". */
export function capabilityNames(bits: bigint): string[] {
  const cached = NAMES_BY_BITS.get(bits);
  if (cached) return [...cached];
  const names = computeNames(bits);
  // Fleets have a handful of distinct capability sets: bounded, but never evicted in practice.
  if (NAMES_BY_BITS.size < 1024) NAMES_BY_BITS.set(bits, names);
  return [...names];
}

const NAMES_BY_BITS = new Map<bigint, string[]>();

function computeNames(bits: bigint): string[] {
  const names: string[] = [];
  for (let n = 0n; n < 64n; n++) {
    const bit = 1n << n;
    if ((bits & bit) === 0n) continue;
    const name = AgentCapabilities[Number(bit)];
    names.push(
      name
        ? name.replace(/^AgentCapabilities_/, "").replace(/^./, (c) => c.toLowerCase())
        : `bit${n.toString()}`,
    );
  }
  return names;
}

export function hasCapability(bits: bigint, capability: bigint): boolean {
  return (bits & capability) !== 0n;
}
