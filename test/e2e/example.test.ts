/** The README's quick start: `kiln build` on the example project in this repository, on embedded DuckDB. */
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { queryDuckdb, REPO, runKiln, type CliResult } from '../helpers/project.js';

describe('example project', () => {
  let dir: string;
  let build: CliResult;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-example-'));
    for (const f of ['kiln_project.yml', 'models', 'seeds']) cpSync(join(REPO, f), join(dir, f), { recursive: true });
    build = await runKiln(['build'], dir);
  });

  it('builds every seed and model and runs their tests with no profiles.yml, into target/<project>.duckdb', () => {
    expect(build.stderr).toBe('');
    expect(build.code).toBe(0);
    expect(build.stdout).toMatch(/PASS=19 WARN=0 ERROR=0 SKIP=0 TOTAL=19/);
    expect(build.stdout).toMatch(/seed\s+PASS=3\n.*model\s+PASS=6\n.*test\s+PASS=9\n.*unit_test PASS=1/);
    expect(existsSync(join(dir, 'target', 'kiln_shop.duckdb'))).toBe(true);
  });

  it('computes the marts from the seeds', async () => {
    const db = join(dir, 'target', 'kiln_shop.duckdb');
    const customers = await queryDuckdb(db, 'select customer_id, order_count, lifetime_value::double as ltv from main.customers order by 1');
    expect(customers).toEqual([
      { customer_id: 1, order_count: 2, ltv: 50 },
      { customer_id: 2, order_count: 2, ltv: 70.9 },
      { customer_id: 3, order_count: 2, ltv: 33.5 },
      { customer_id: 4, order_count: 1, ltv: 0 },
      { customer_id: 5, order_count: 3, ltv: 103.75 },
      { customer_id: 6, order_count: 0, ltv: 0 },
    ]);
    const kinds = await queryDuckdb(db, "select table_name, table_type from information_schema.tables where table_schema = 'main' order by 1");
    expect(kinds).toEqual([
      { table_name: 'customers', table_type: 'BASE TABLE' },
      { table_name: 'monthly_revenue', table_type: 'BASE TABLE' },
      { table_name: 'orders', table_type: 'BASE TABLE' },
      { table_name: 'raw_customers', table_type: 'BASE TABLE' },
      { table_name: 'raw_orders', table_type: 'BASE TABLE' },
      { table_name: 'raw_payments', table_type: 'BASE TABLE' },
      { table_name: 'stg_customers', table_type: 'VIEW' },
      { table_name: 'stg_orders', table_type: 'VIEW' },
      { table_name: 'stg_payments', table_type: 'VIEW' },
    ]);
  });

  it('inlines the ephemeral model as a CTE and writes artifacts', () => {
    const compiled = readFileSync(join(dir, 'target', 'compiled', 'kiln_shop', 'models', 'marts', 'orders.sql'), 'utf8');
    expect(compiled).toMatch(/^\s*with __dbt__cte__int_order_payments as \(/);
    expect(compiled).toContain('"kiln_shop"."main"."stg_orders"');
    const manifest = JSON.parse(readFileSync(join(dir, 'target', 'manifest.json'), 'utf8'));
    expect(manifest.nodes['model.kiln_shop.orders'].depends_on.nodes.sort()).toEqual(['model.kiln_shop.int_order_payments', 'model.kiln_shop.stg_orders']);
    expect(manifest.parent_map['model.kiln_shop.customers'].sort()).toEqual(['model.kiln_shop.orders', 'model.kiln_shop.stg_customers']);
    const results = JSON.parse(readFileSync(join(dir, 'target', 'run_results.json'), 'utf8'));
    expect(results.results).toHaveLength(19);
    expect(results.results.every((r: { status: string }) => r.status === 'success' || r.status === 'pass')).toBe(true);
  });
});
