import { z } from "@hono/zod-openapi";
import type { TemplateService } from "../../fleet/configs/templates.js";
import { etagOf } from "../../fleet/etag.js";
import { guardedRoute } from "../access.js";
import {
  commonErrorResponses,
  conflictResponse,
  preconditionResponse,
  unprocessableResponse,
} from "../errors.js";
import { newRouter } from "../router.js";
import {
  IdempotencyKeyHeader,
  IfMatchHeader,
  json,
  PageQuery,
  PositiveInt32Param,
  pageOf,
  TenantIdParam,
} from "../schemas.js";

export const ObjectName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/,
    "1-63 characters of [a-z0-9._-], starting and ending alphanumeric",
  )
  .openapi({ example: "base" });

const TemplateParams = TenantIdParam.extend({
  name: ObjectName.openapi({ param: { name: "name", in: "path" }, example: "base" }),
});
const RevisionParams = TemplateParams.extend({
  version: PositiveInt32Param.openapi({ param: { name: "version", in: "path" } }),
});

const Revision = z
  .object({
    version: z.number().int(),
    contentSha256: z.string(),
    message: z.string().nullable(),
    author: z.string(),
    createdAt: z.string(),
  })
  .openapi("TemplateRevision");
const RevisionDetail = Revision.extend({ content: z.string() }).openapi("TemplateRevisionDetail");

const Template = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    latestVersion: z.number().int(),
    source: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
    updatedAt: z.string(),
  })
  .openapi("ConfigTemplate");
const TemplateDetail = Template.extend({ revision: RevisionDetail.nullable() }).openapi(
  "ConfigTemplateDetail",
);
const UpsertAnswer = Template.extend({ revision: Revision, created: z.boolean() }).openapi(
  "ConfigTemplateUpsert",
);

const Content = z
  .string()
  .min(1)
  .max(256 * 1024)
  .openapi({ example: "receivers:\n  otlp:\n    protocols: { grpc: {} }\n" });
const PutTemplate = z.strictObject({
  content: Content,
  description: z.string().max(1000).optional(),
  message: z.string().max(1000).optional(),
});
const PostRevision = z.strictObject({ content: Content, message: z.string().max(1000).optional() });

const tags = ["Config templates"];

const put = guardedRoute("editor", {
  method: "put",
  path: "/tenants/{tenantId}/config-templates/{name}",
  tags,
  summary: "Create a template or a new revision when the content changed; identical content is a no-op",
  request: { params: TemplateParams, headers: IfMatchHeader, body: { required: true, ...json(PutTemplate) } },
  responses: {
    201: { description: "A new revision was stored", ...json(UpsertAnswer) },
    200: { description: "Unchanged: the content equals the latest revision", ...json(UpsertAnswer) },
    ...commonErrorResponses,
    ...preconditionResponse,
    ...unprocessableResponse,
  },
});
const list = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/config-templates",
  tags,
  summary: "List templates",
  request: { params: TenantIdParam, query: PageQuery },
  responses: {
    200: { description: "A page of templates", ...json(pageOf(Template, "ConfigTemplatePage")) },
    ...commonErrorResponses,
  },
});
const get = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/config-templates/{name}",
  tags,
  summary: "Get a template with its latest revision's content",
  request: { params: TemplateParams },
  responses: { 200: { description: "The template", ...json(TemplateDetail) }, ...commonErrorResponses },
});
const remove = guardedRoute("editor", {
  method: "delete",
  path: "/tenants/{tenantId}/config-templates/{name}",
  tags,
  summary: "Delete a template and its revisions; 409 while an assignment uses it",
  request: { params: TemplateParams, headers: IfMatchHeader },
  responses: {
    204: { description: "Deleted" },
    ...commonErrorResponses,
    ...conflictResponse,
    ...preconditionResponse,
  },
});
const postRevision = guardedRoute("editor", {
  method: "post",
  path: "/tenants/{tenantId}/config-templates/{name}/revisions",
  tags,
  summary: "Add a revision; identical content returns the latest revision",
  request: {
    headers: IdempotencyKeyHeader,
    params: TemplateParams,
    body: { required: true, ...json(PostRevision) },
  },
  responses: {
    201: { description: "A new revision was stored", ...json(UpsertAnswer) },
    200: { description: "Unchanged", ...json(UpsertAnswer) },
    ...commonErrorResponses,
    ...unprocessableResponse,
  },
});
const listRevisions = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/config-templates/{name}/revisions",
  tags,
  summary: "List revisions, newest first",
  request: { params: TemplateParams, query: PageQuery },
  responses: {
    200: { description: "A page of revisions", ...json(pageOf(Revision, "TemplateRevisionPage")) },
    ...commonErrorResponses,
  },
});
const getRevision = guardedRoute("viewer", {
  method: "get",
  path: "/tenants/{tenantId}/config-templates/{name}/revisions/{version}",
  tags,
  summary: "Get one revision with its content",
  request: { params: RevisionParams },
  responses: { 200: { description: "The revision", ...json(RevisionDetail) }, ...commonErrorResponses },
});

export function configTemplateRoutes(templates: TemplateService) {
  return newRouter()
    .openapi(put, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      const r = await templates.upsert(
        meta,
        tenantId,
        name,
        c.req.valid("json"),
        c.req.valid("header")["if-match"],
      );
      const body = { ...r.template, revision: r.revision, created: r.created };
      c.header("ETag", etagOf(await templates.get(meta.actor, tenantId, name)));
      return r.created ? c.json(body, 201) : c.json(body, 200);
    })
    .openapi(list, async (c) => {
      const { tenantId } = c.req.valid("param");
      return c.json(await templates.list(c.get("actor"), tenantId, c.req.valid("query")), 200);
    })
    .openapi(get, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const view = await templates.get(c.get("actor"), tenantId, name);
      c.header("ETag", etagOf(view));
      return c.json(view, 200);
    })
    .openapi(remove, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      await templates.delete(meta, tenantId, name, c.req.valid("header")["if-match"]);
      return c.body(null, 204);
    })
    .openapi(postRevision, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      const meta = { actor: c.get("actor"), requestId: c.get("requestId") };
      const r = await templates.createRevision(meta, tenantId, name, c.req.valid("json"));
      const body = { ...r.template, revision: r.revision, created: r.created };
      return r.created ? c.json(body, 201) : c.json(body, 200);
    })
    .openapi(listRevisions, async (c) => {
      const { tenantId, name } = c.req.valid("param");
      return c.json(await templates.listRevisions(c.get("actor"), tenantId, name, c.req.valid("query")), 200);
    })
    .openapi(getRevision, async (c) => {
      const { tenantId, name, version } = c.req.valid("param");
      return c.json(await templates.getRevision(c.get("actor"), tenantId, name, version), 200);
    });
}
