/**
 * Who is signed in: the credential's tenant and role from GET /api/v1/whoami. Pages ask
 * `useSession().can("editor")` before offering a write action, so a viewer never sees one (the
 * server would refuse it anyway).
 */
import { createContext, useContext } from "react";
import type { Role, Schemas } from "./api";

const RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3, operator: 4 };

/** True when `role` may do what needs `minimum`. */
export function roleAtLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

export interface Session {
  who: Schemas["WhoAmI"];
  /** The tenant the pages show: the key's own, or the one an operator picked. */
  tenantId: string;
  can(minimum: Role): boolean;
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}
