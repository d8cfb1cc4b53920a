/**
 * GitOps manifests: YAML documents of `kind: ConfigTemplate` and `kind: Assignment`, read from a
 * file or every *.yaml / *.yml file under a directory (sorted, recursive). A template's content
 * is inline (`content:`) or in a file next to the manifest (`contentFile:`).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { Bundle } from "../fleet/configs/apply.js";

/** What the manifests describe: a bundle without its source marker (given on the command line). */
export type ManifestBundle = Omit<Bundle, "source">;

export class ManifestError extends Error {
  override readonly name = "ManifestError";
}

async function yamlFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (info.isFile()) return [path];
  const out: string[] = [];
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...(await yamlFiles(full)));
    else if (/\.ya?ml$/.test(entry.name)) out.push(full);
  }
  return out;
}

function str(doc: Record<string, unknown>, key: string, where: string, required = true): string | undefined {
  const v = doc[key];
  if (v === undefined || v === null) {
    if (required) throw new ManifestError(`${where}: "${key}" is required`);
    return undefined;
  }
  if (typeof v !== "string") throw new ManifestError(`${where}: "${key}" must be a string`);
  return v;
}

/** Reads every manifest under `path` into one bundle; errors name the file and document. */
export async function readManifests(path: string): Promise<ManifestBundle> {
  const root = resolve(path);
  const bundle: ManifestBundle = { templates: [], assignments: [] };
  for (const file of await yamlFiles(root)) {
    const docs = parseAllDocuments(await readFile(file, "utf8"));
    const list = Array.isArray(docs) ? docs : [docs];
    for (const [i, doc] of list.entries()) {
      const where = `${relative(process.cwd(), file) || file} (document ${i + 1})`;
      if (doc.errors.length > 0) throw new ManifestError(`${where}: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJSON();
      if (value === null || value === undefined) continue;
      if (typeof value !== "object" || Array.isArray(value))
        throw new ManifestError(`${where}: not a mapping`);
      const d = value as Record<string, unknown>;
      const kind = str(d, "kind", where);
      const name = str(d, "name", where) ?? "";
      if (kind === "ConfigTemplate") {
        const inline = str(d, "content", where, false);
        const contentFile = str(d, "contentFile", where, false);
        if ((inline === undefined) === (contentFile === undefined)) {
          throw new ManifestError(`${where}: give exactly one of "content" or "contentFile"`);
        }
        const content = inline ?? (await readFile(resolve(dirname(file), contentFile ?? ""), "utf8"));
        const description = str(d, "description", where, false);
        bundle.templates.push({ name, content, ...(description !== undefined ? { description } : {}) });
      } else if (kind === "Assignment") {
        const revision = d.revision ?? "latest";
        if (revision !== "latest" && !(typeof revision === "number" && Number.isInteger(revision))) {
          throw new ManifestError(`${where}: "revision" must be a number or "latest"`);
        }
        const priority = d.priority ?? 0;
        if (typeof priority !== "number" || !Number.isInteger(priority)) {
          throw new ManifestError(`${where}: "priority" must be an integer`);
        }
        const layer = d.layer ?? "base";
        if (layer !== "base" && layer !== "overlay") {
          throw new ManifestError(`${where}: "layer" must be "base" or "overlay"`);
        }
        const description = str(d, "description", where, false);
        bundle.assignments.push({
          name,
          selector: str(d, "selector", where) ?? "",
          template: str(d, "template", where) ?? "",
          revision: revision as number | "latest",
          priority,
          layer,
          ...(description !== undefined ? { description } : {}),
          ...(typeof d.matchReportedAttributes === "boolean"
            ? { matchReportedAttributes: d.matchReportedAttributes }
            : {}),
          // The default rollout strategy; the server checks it (422 naming the field).
          ...(d.rollout !== undefined ? { rollout: d.rollout } : {}),
        });
      } else {
        throw new ManifestError(`${where}: unknown kind "${kind}" (ConfigTemplate or Assignment)`);
      }
    }
  }
  return bundle;
}
