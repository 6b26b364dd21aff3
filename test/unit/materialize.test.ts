/**
 * The materializer's strategies against real DuckDB, with the adapter's capabilities overridden to take
 * each path a warehouse would (swap in a transaction, swap with manual restore, replace in place), and
 * failures injected at each step: the previous relation must always survive.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { duckdbAdapterFactory } from '../../adapters/duckdb/index.js';
import type { Adapter, AdapterCapabilities, Connection, RelationRef } from '../../src/adapter.js';
import { RelationCache } from '../../src/compile/relationCache.js';
import { Materializer, suffixedName } from '../../src/run/materialize.js';

const target: RelationRef = { schema: 'analytics', identifier: 'orders' };
let open: Adapter | undefined;

async function setup(caps: Partial<AdapterCapabilities>, initialFailOn?: RegExp) {
  let failOn = initialFailOn;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-mat-'));
  const config = duckdbAdapterFactory.validateTarget({ type: 'duckdb', path: 'db.duckdb' }, { file: 'profiles.yml' }, { dir, name: 'p' });
  const real = await duckdbAdapterFactory.open(config, { threads: 1, projectDir: dir, projectName: 'p' });
  open = real;
  const statements: string[] = [];
  // Same engine, other capabilities; optionally a statement that fails like a warehouse error would.
  const adapter: Adapter = Object.assign(Object.create(real) as Adapter, {
    capabilities: { ...real.capabilities, ...caps },
    withConnection: <T>(fn: (c: Connection) => Promise<T>) => real.withConnection((c) => fn({
      execute: async (sql, opts) => {
        statements.push(sql);
        if (failOn && failOn.test(sql)) throw new Error(`injected failure: ${sql}`);
        return c.execute(sql, opts);
      },
    })),
  });
  const relations = new RelationCache(adapter);
  const materializer = new Materializer(adapter, relations);
  const build = (sql: string, kind: 'table' | 'view' = 'table') =>
    adapter.withConnection((c) => materializer.fromSelect(c, kind, target, sql, {}, () => {}));
  const query = (sql: string) => real.withConnection((c) => c.execute(sql));
  return { build, query, statements, relations, failOn: (re: RegExp | undefined) => (failOn = re) };
}

afterEach(async () => {
  await open?.close();
  open = undefined;
});

const rowsOf = async (q: (s: string) => Promise<{ rows: Record<string, unknown>[] }>) =>
  (await q('select v from analytics.orders order by v')).rows.map((r) => r.v);
const leftovers = async (q: (s: string) => Promise<{ rows: Record<string, unknown>[] }>) =>
  (await q("select table_name from information_schema.tables where table_name like '%kiln%'")).rows;

describe('materializer strategies', () => {
  it('swaps in a transaction and drops the backup after commit', async () => {
    const t = await setup({});
    await t.build('select 1 as v');
    await t.build('select 2 as v');
    expect(await rowsOf(t.query)).toEqual([2]);
    const commit = t.statements.lastIndexOf('commit');
    const dropBackup = t.statements.findIndex((s) => /drop table .*orders__kiln_backup/.test(s));
    expect(commit).toBeGreaterThan(0);
    expect(dropBackup).toBeGreaterThan(commit);
    expect(await leftovers(t.query)).toEqual([]);
  });

  it('rolls back when the rename into place fails (transactional)', async () => {
    const t = await setup({}, /rename to "orders"$/);
    // First build has no old relation to move aside, and its rename is what fails: nothing is left behind.
    await expect(t.build('select 1 as v')).rejects.toThrow(/injected failure/);
    expect((await t.query("select * from information_schema.tables where table_schema = 'analytics'")).rows).toEqual([]);
  });

  it('without transactional DDL, puts the old relation back when the swap fails half way', async () => {
    const t = await setup({ transactionalDdl: false, createOrReplace: new Set() });
    await t.build('select 1 as v');
    // The old table is already renamed to the backup when moving the new one into place fails.
    t.failOn(/orders__kiln_tmp" rename to "orders"$/);
    await expect(t.build('select 2 as v')).rejects.toThrow(/injected failure/);
    expect(t.statements.some((s) => /orders__kiln_backup" rename to "orders"$/.test(s))).toBe(true);
    expect(await rowsOf(t.query)).toEqual([1]);
    expect(await leftovers(t.query)).toEqual([]);
    t.failOn(undefined);
    await t.build('select 3 as v');
    expect(await rowsOf(t.query)).toEqual([3]);
  });

  it('replaces in place where the warehouse has create-or-replace and no transactional DDL', async () => {
    const t = await setup({ transactionalDdl: false, createOrReplace: new Set(['table', 'view']), renameable: new Set(['table']) });
    await t.build('select 1 as v');
    await t.build('select 2 as v');
    expect(await rowsOf(t.query)).toEqual([2]);
    expect(t.statements.some((s) => s.startsWith('create or replace table "memory"') || /create or replace table .*"orders"/.test(s))).toBe(true);
    expect(t.statements.some((s) => /rename/.test(s))).toBe(false);
    // A view where a table was: the table is dropped first (create-or-replace cannot change the kind).
    await t.build('select 3 as v', 'view');
    expect((await t.query("select table_type from information_schema.tables where table_name = 'orders'")).rows).toEqual([{ table_type: 'VIEW' }]);
  });

  it('a failing build never touches the existing relation, whatever the strategy', async () => {
    for (const caps of [{}, { transactionalDdl: false, createOrReplace: new Set<never>() }, { transactionalDdl: false, createOrReplace: new Set(['table'] as const) }]) {
      const t = await setup(caps as Partial<AdapterCapabilities>);
      await t.build('select 1 as v');
      await expect(t.build("select 'x'::integer as v")).rejects.toThrow(/Conversion Error/);
      expect(await rowsOf(t.query)).toEqual([1]);
      expect(await leftovers(t.query)).toEqual([]);
      await open!.close();
      open = undefined;
    }
  });
});

describe('a build that fails after creating its temporary relation', () => {
  it('drops the temporary relation and keeps the old one', async () => {
    const t = await setup({});
    await t.build('select 1 as v');
    const materializer = new Materializer(open!, new RelationCache(open!));
    await expect(open!.withConnection((c) => materializer.replace(c, target, {
      kind: 'table',
      singleStatement: false,
      build: async (rel) => {
        await c.execute(`create table ${open!.renderRelation(rel)} (v integer)`);
        throw new Error('load failed');
      },
    }, () => {}))).rejects.toThrow('load failed');
    expect(await rowsOf(t.query)).toEqual([1]);
    expect(await leftovers(t.query)).toEqual([]);
  });
});

describe('temporary names', () => {
  it('stay within the identifier limit and stay distinct', () => {
    const long = 'a'.repeat(60);
    const tmp = suffixedName(long, '__kiln_tmp', 63);
    const backup = suffixedName(long, '__kiln_backup', 63);
    expect(tmp.length).toBeLessThanOrEqual(63);
    expect(backup.length).toBeLessThanOrEqual(63);
    expect(tmp).not.toBe(backup);
    expect(suffixedName(long, '__kiln_tmp', 63)).not.toBe(suffixedName(`${'a'.repeat(59)}b`, '__kiln_tmp', 63));
    expect(suffixedName('orders', '__kiln_tmp', 63)).toBe('orders__kiln_tmp');
  });
});
