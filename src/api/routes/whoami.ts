/**
 * Who the caller is: its tenant and role. The console asks once after sign-in to know which
 * tenant to show and whether to offer write actions; any valid credential may ask.
 */
import { z } from "@hono/zod-openapi";
import { guardedRoute } from "../access.js";
import { commonErrorResponses } from "../errors.js";
import { newRouter } from "../router.js";
import { json } from "../schemas.js";

const WhoAmI = z
  .object({
    type: z.enum(["api_key", "jwt", "system"]).openapi({ description: "How the caller authenticated" }),
    id: z.string().openapi({ description: "The API key's record id, or jwt:<subject>" }),
    tenantId: z.string().nullable().openapi({ description: "null for the operator (every tenant)" }),
    role: z.enum(["viewer", "editor", "admin", "operator"]),
  })
  .openapi("WhoAmI");

const whoami = guardedRoute("viewer", {
  method: "get",
  path: "/whoami",
  tags: ["Identity"],
  summary: "The caller's tenant and role (any valid credential)",
  responses: { 200: { description: "The caller", ...json(WhoAmI) }, ...commonErrorResponses },
});

export function whoamiRoutes() {
  return newRouter().openapi(whoami, (c) => {
    const { type, id, tenantId, role } = c.get("actor");
    return c.json({ type, id, tenantId, role }, 200);
  });
}
