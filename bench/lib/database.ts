/**
 * The run's own PostgreSQL database: created fresh (bench_<timestamp>), seeded directly with SQL
 * for the REST scenario, queried for the sanity checks, dropped at the end unless --keep.
 */
import pg from "pg";

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  return databaseUrl(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A small pool on the run's database for seeding and checks. */
export class BenchDb {
  readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 4 });
  }

  async one<T extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T> {
    const res = await this.pool.query<T>(text, values);
    const row = res.rows[0];
    if (!row) throw new Error(`no row for: ${text}`);
    return row;
  }

  async rows<T extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.pool.query<T>(text, values)).rows;
  }

  async count(text: string, values: unknown[] = []): Promise<number> {
    const row = await this.one<{ n: string }>(text, values);
    return Number(row.n);
  }

  /**
   * Adds `count` agents to a tenant (never connected, label env=bench-seed so no assignment of
   * the bench matches them) and one delivery row each (applied, failed or superseded), in
   * chunks of 50,000 rows per statement.
   */
  async seedAgents(tenantId: string, count: number): Promise<void> {
    const chunk = 50_000;
    for (let done = 0; done < count; done += chunk) {
      const n = Math.min(chunk, count - done);
      await this.pool.query(
        `WITH new_agents AS (
           INSERT INTO agents (tenant_id, instance_uid, labels, description, capabilities, health,
                               remote_config_status, sequence_num, heartbeat_interval_s,
                               enrolled_at, key_confirmed_at, last_seen_at, disconnected_at, created_at, updated_at)
           SELECT $1, gen_random_uuid(),
                  jsonb_build_object('env', 'bench-seed', 'shard', (g % 16)::text),
                  jsonb_build_object(
                    'identifying', jsonb_build_object('service.name', 'otelcol-contrib', 'service.version', '0.156.0'),
                    'nonIdentifying', jsonb_build_object('host.name', 'seed-' || g, 'os.type', 'linux')),
                  14599,
                  '{"healthy": true, "status": "StatusOK", "lastError": "", "startTimeUnixNano": "0", "statusTimeUnixNano": "0", "components": {}}'::jsonb,
                  jsonb_build_object('lastRemoteConfigHash', md5(g::text) || md5((g + 1)::text), 'status', 'APPLIED', 'errorMessage', ''),
                  42, 30,
                  now() - interval '2 days', now() - interval '2 days',
                  now() - interval '1 hour', now() - interval '1 hour',
                  now() - (g || ' seconds')::interval, now() - interval '1 hour'
           FROM generate_series($2::int, $3::int) AS g
           RETURNING tenant_id, instance_uid
         )
         INSERT INTO agent_config_deliveries (id, tenant_id, instance_uid, config_hash, status,
                                              attempts, created_at, updated_at, offered_at, applied_at)
         SELECT 'dlv_seed' || replace(instance_uid::text, '-', ''), tenant_id, instance_uid,
                md5(instance_uid::text) || md5(tenant_id || instance_uid::text),
                (ARRAY['applied', 'applied', 'applied', 'failed', 'superseded'])[1 + (abs(hashtext(instance_uid::text)) % 5)],
                1, now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
         FROM new_agents`,
        [tenantId, done + 1, done + n],
      );
    }
    await this.pool.query("ANALYZE agents");
    await this.pool.query("ANALYZE agent_config_deliveries");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
