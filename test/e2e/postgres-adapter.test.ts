/**
 * The Postgres adapter through the real CLI against the throwaway server (test/pg/globalSetup.ts): quoting,
 * COPY seeds, the atomic swap and the views it drops, grants/comments/indexes, a failure half-way through
 * a 20-model build, server errors with SQLSTATE and file:line, connection and profile errors, limits and
 * the cross-database macros. Each test works in schemas of its own, dropped afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runKiln, writeFiles } from '../helpers/project.js';
import { dropSchemas, pgQuery, pgServer, postgresTarget, uniqueSchema } from '../pg/server.js';

const schemas: string[] = [];

function profile(fields: Record<string, unknown>): string {
  const yaml = Object.entries(fields).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
  return `pgproj:\n  target: dev\n  outputs:\n    dev:\n${yaml}\n`;
}

/** A project on the test server in a fresh schema (or `schema`), with `files`. */
function pgProject(files: Record<string, string>, opts: { schema?: string; fields?: Record<string, unknown> } = {}) {
  const schema = opts.schema ?? uniqueSchema('e2e');
  schemas.push(schema);
  const dir = makeProject({ 'kiln_project.yml': 'name: pgproj\nprofile: pgproj\n', ...files }, 'kiln-e2e-pg-');
  writeFiles(dir, { 'profiles.yml': profile({ ...postgresTarget(schema), ...opts.fields }) });
  return { dir, schema, kiln: (args: string[]) => runKiln([...args, '--profiles-dir', dir], dir) };
}

const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

afterAll(async () => {
  if (pgServer()) for (const s of schemas) await dropSchemas(s).catch(() => undefined);
});

describe.skipIf(!pgServer())('postgres adapter end to end', () => {
  it('quotes mixed-case and reserved-word names, a schema with a dash, and loads seeds with quotes and commas through COPY', async () => {
    const p = pgProject({
      'seeds/Raw People.csv': 'Id,Name,select,"Joined At",score,active,note\n1,"Ann, the ""first""",x,2024-01-02 10:00:00,1.5,true,\n\n2,"Line\nbreak",y,2024-02-03 11:30:00,-2,false,plain\n',
      'models/MixedCase.sql': 'select "Id" as "UserId", "Name" as "order", "select" from {{ ref(\'Raw People\') }}',
      'models/select.sql': "{{ config(materialized='table') }}select \"UserId\", \"order\" as \"from\" from {{ ref('MixedCase') }}",
    }, { schema: uniqueSchema('e2e-dash') });
    const r = await p.kiln(['build']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rels = await pgQuery('select relname, relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = $1 order by 1', [p.schema]);
    expect(rels).toEqual([
      { relname: 'MixedCase', relkind: 'v' }, { relname: 'Raw People', relkind: 'r' }, { relname: 'select', relkind: 'r' },
    ]);
    const seed = await pgQuery(`select "Id", "Name", "select", "Joined At"::text, score, active, note from ${q(p.schema)}."Raw People" order by "Id"`);
    expect(seed).toEqual([
      // A plain `pg` client: bigint and numeric arrive as strings.
      { Id: '1', Name: 'Ann, the "first"', select: 'x', 'Joined At': '2024-01-02 10:00:00', score: '1.5', active: true, note: null },
      { Id: '2', Name: 'Line\nbreak', select: 'y', 'Joined At': '2024-02-03 11:30:00', score: '-2', active: false, note: 'plain' },
    ]);
    const types = await pgQuery('select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position', [p.schema, 'Raw People']);
    expect(types.map((t) => `${t.column_name}:${t.data_type}`)).toEqual([
      'Id:bigint', 'Name:text', 'select:text', 'Joined At:timestamp without time zone', 'score:numeric', 'active:boolean', 'note:text',
    ]);
    expect(await pgQuery(`select "UserId"::int as "UserId", "from" from ${q(p.schema)}."select" order by 1`)).toEqual([{ UserId: 1, from: 'Ann, the "first"' }, { UserId: 2, from: 'Line\nbreak' }]);
    const results = JSON.parse(readFileSync(join(p.dir, 'target', 'run_results.json'), 'utf8')).results as { unique_id: string; adapter_response: Record<string, unknown> }[];
    expect(results.find((x) => x.unique_id.startsWith('seed.'))!.adapter_response).toMatchObject({ _message: 'COPY 2', rows_affected: 2 });
  });

  it('swaps a table atomically; views bound to the old table are dropped and reported, never silently re-created', async () => {
    const p = pgProject({
      'models/base.sql': "{{ config(materialized='table') }}select 1 as v",
      'models/on_base.sql': "select v from {{ ref('base') }}",
      'models/on_view.sql': "select v from {{ ref('on_base') }}",
    });
    expect((await p.kiln(['run'])).code).toBe(0);
    // A view Kiln does not manage, in another schema.
    const other = uniqueSchema('e2e_other');
    schemas.push(other);
    await pgQuery(`create schema ${q(other)}; create view ${q(other)}.manual as select v from ${q(p.schema)}.base`);

    writeFiles(p.dir, { 'models/base.sql': "{{ config(materialized='table') }}select 2 as v" });
    let r = await p.kiln(['run', '-s', 'base']);
    expect(r.code).toBe(0);
    expect(await pgQuery(`select v from ${q(p.schema)}.base`)).toEqual([{ v: 2 }]);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/3 views were dropped with the previous version of a relation this run replaced, and not rebuilt/);
    expect(out).toContain(`"${other}"."manual"`);
    expect(out).toContain(`"${p.schema}"."on_base"`);
    expect(out).toContain(`"${p.schema}"."on_view"`);
    const left = await pgQuery("select nspname || '.' || relname as r from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname in ($1, $2) order by 1", [p.schema, other]);
    expect(left).toEqual([{ r: `${p.schema}.base` }]);

    // A full run rebuilds the model views; only the unmanaged one is still reported.
    r = await p.kiln(['run']);
    expect(r.code).toBe(0);
    expect(await pgQuery(`select v from ${q(p.schema)}.on_view`)).toEqual([{ v: 2 }]);
    expect(r.stdout + r.stderr).not.toContain('dropped with the previous version');
  });

  it('applies grants (and revokes removed ones), persists docs and creates indexes', async () => {
    await pgQuery("do $$ begin if not exists (select from pg_roles where rolname = 'kiln_reader') then create role kiln_reader; end if; "
      + "if not exists (select from pg_roles where rolname = 'Kiln Auditor') then create role \"Kiln Auditor\"; end if; end $$");
    const model = (grants: string) => `{{ config(materialized='table', grants=${grants}, persist_docs={'relation': true, 'columns': true}, indexes=[{'columns': ['id'], 'unique': true}, {'columns': ['name'], 'type': 'hash'}]) }}
select 1 as id, 'a' as name`;
    const p = pgProject({
      'models/g.sql': model("{'select': ['kiln_reader', 'Kiln Auditor']}"),
      'models/schema.yml': "models:\n  - name: g\n    description: \"Graded 'items'\"\n    columns:\n      - name: id\n        description: The key\n      - name: missing\n        description: not in the table\n",
    });
    expect((await p.kiln(['run'])).code).toBe(0);
    const grants = () => pgQuery("select grantee, privilege_type from information_schema.role_table_grants where table_schema = $1 and table_name = 'g' and grantee <> current_user order by 1", [p.schema]);
    expect(await grants()).toEqual([{ grantee: 'Kiln Auditor', privilege_type: 'SELECT' }, { grantee: 'kiln_reader', privilege_type: 'SELECT' }]);
    expect(await pgQuery(`select obj_description('${q(p.schema)}.g'::regclass, 'pg_class') as d, col_description('${q(p.schema)}.g'::regclass, 1) as c`))
      .toEqual([{ d: "Graded 'items'", c: 'The key' }]);
    const indexes = await pgQuery("select indexdef from pg_indexes where schemaname = $1 and tablename = 'g' order by 1", [p.schema]);
    expect(indexes.map((i) => String(i.indexdef).replace(/INDEX "?\w+"? ON/, 'INDEX ON'))).toEqual([
      `CREATE INDEX ON ${p.schema}.g USING hash (name)`, `CREATE UNIQUE INDEX ON ${p.schema}.g USING btree (id)`,
    ]);

    // Grants on an existing relation are reconciled: the removed role loses its privilege.
    await pgQuery(`grant insert on ${q(p.schema)}.g to kiln_reader`);
    writeFiles(p.dir, { 'models/g.sql': model("{'select': ['kiln_reader']}") });
    expect((await p.kiln(['run'])).code).toBe(0);
    expect(await grants()).toEqual([{ grantee: 'kiln_reader', privilege_type: 'SELECT' }]);
  });

  it('a model failing half-way through a 20-model build leaves every previously built relation with its previous contents', async () => {
    const files = (version: number, failAt?: number) => Object.fromEntries(Array.from({ length: 20 }, (_, i) => {
      const n = String(i + 1).padStart(2, '0');
      const prev = i === 0 ? '' : ` join {{ ref('m${String(i).padStart(2, '0')}') }} on true`;
      // The failing model errors while running (division by zero on its 500th row), not while parsing.
      const body = failAt === i + 1
        ? `select ${version} as v, count(*) as n from generate_series(1, 1000) g where 1 / (500 - g) > -2`
        : `select ${version} as v, ${i + 1} as n`;
      return [`models/m${n}.sql`, `{{ config(materialized='${i % 4 === 3 ? 'view' : 'table'}') }}select x.* from (${body}) x${prev.replace(' on true', ' as p on true')}`];
    }));
    const p = pgProject(files(1));
    expect((await p.kiln(['run', '--threads', '1'])).code).toBe(0);
    writeFiles(p.dir, files(2, 11));
    const r = await p.kiln(['run', '--threads', '1']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/division by zero \(SQLSTATE 22012\)/);
    const versions: Record<string, number> = {};
    for (let i = 1; i <= 20; i++) {
      const n = `m${String(i).padStart(2, '0')}`;
      versions[n] = Number((await pgQuery(`select v from ${q(p.schema)}.${n}`))[0].v);
    }
    expect(versions).toEqual(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`m${String(i + 1).padStart(2, '0')}`, i < 10 ? 2 : 1])));
    expect((await pgQuery("select count(*)::int as n from pg_class c join pg_namespace s on s.oid = c.relnamespace where nspname = $1 and relname like '%kiln%'", [p.schema]))[0].n).toBe(0);

    // The model is fixed; kiln retry runs the failed model and the nine it skipped, and nothing else.
    writeFiles(p.dir, files(2));
    const retried = await p.kiln(['retry']);
    expect(retried.code, retried.stderr).toBe(0);
    const ran = (JSON.parse(readFileSync(join(p.dir, 'target', 'run_results.json'), 'utf8')) as { results: { unique_id: string; status: string }[] }).results;
    expect(ran.map((x) => x.unique_id.split('.').pop())).toEqual(Array.from({ length: 10 }, (_, i) => `m${String(i + 11).padStart(2, '0')}`));
    expect(ran.every((x) => x.status === 'success')).toBe(true);
    for (let i = 1; i <= 20; i++) {
      expect(Number((await pgQuery(`select v from ${q(p.schema)}.m${String(i).padStart(2, '0')}`))[0].v)).toBe(2);
    }
  });

  it('a hook that leaves a transaction open does not leak it into the next node on the connection', async () => {
    const p = pgProject({
      'models/a.sql': `{{ config(materialized='table', post_hook=[{'sql': 'begin; create table {{ this.schema }}.leak_check (x int)', 'transaction': false}]) }}select 1 as v`,
      'models/b.sql': "{{ config(materialized='table') }}select 2 as v",
    });
    const r = await p.kiln(['run', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const tables = await pgQuery('select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = $1 and relkind = $2 order by 1', [p.schema, 'r']);
    expect(tables.map((t) => t.relname)).toEqual(['a', 'b']);
  });

  it('reports server errors with their SQLSTATE, the model and the line in the compiled file', async () => {
    const p = pgProject({ 'models/bad.sql': "{{ config(materialized='table') }}\nselect 1 as a,\n  no_such_column as b" });
    const r = await p.kiln(['run']);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/target\/compiled\/pgproj\/models\/bad\.sql:3: model 'bad' failed in postgres: column "no_such_column" does not exist \(SQLSTATE 42703\)/);
  });

  it('names profiles.yml and keeps the password out when it cannot connect', async () => {
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => res(a.port)); }); });
    const p = pgProject({ 'models/m.sql': 'select 1 as v' }, { fields: { port, password: 'sup3r-s3cret-pw', retries: 0, connect_timeout: 2 } });
    const r = await p.kiln(['run']);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/profiles\.yml:\d+(:\d+)?: could not connect to postgres at 127\.0\.0\.1:\d+ .*ECONNREFUSED/);
    expect(out).toContain('profiles.yml');
    expect(out).not.toContain('sup3r-s3cret-pw');
  });

  it('rejects bad profile fields at their target in profiles.yml', async () => {
    const p = pgProject({ 'models/m.sql': 'select 1 as v' }, { fields: { sslmode: 'sometimes' } });
    let r = await p.kiln(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/profiles\.yml:\d+(:\d+)?: postgres target: field 'sslmode' must be one of disable, allow, prefer, require, verify-ca, verify-full, not 'sometimes'/);
    writeFiles(p.dir, { 'profiles.yml': profile({ ...postgresTarget(p.schema), portt: 5 }) });
    r = await p.kiln(['run']);
    expect(r.stderr).toMatch(/profiles\.yml:\d+(:\d+)?: unknown field 'portt' in a postgres target/);
  });

  it('refuses names longer than Postgres keeps, at compile time, before sending anything', async () => {
    const long = `m_${'x'.repeat(62)}`;
    const p = pgProject({ [`models/${long}.sql`]: 'select 1 as v' });
    expect((await p.kiln(['compile'])).stderr).toContain(`models/${long}.sql: model '${long}' has the relation name '${long}', 64 bytes long; postgres allows at most 63`);
    const r = await p.kiln(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Set a shorter alias in its config, or rename the file.');
    expect(await pgQuery('select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = $1', [p.schema])).toEqual([{ n: 0 }]);
  });

  it('runs the cross-database macros as Postgres needs them', async () => {
    const p = pgProject({
      'models/x.sql': `select
  {{ dbt.datediff("'2024-01-31'::date", "'2024-03-01'::date", 'day') }} as days,
  {{ dbt.datediff("'2024-01-31'::date", "'2024-03-01'::date", 'month') }} as months,
  ({{ dbt.dateadd('day', 3, "'2024-02-27'::date") }})::date as later,
  ({{ dbt.listagg('s', "', '", 'order by s desc') }}) as agg,
  {{ dbt.any_value('s') }} as any_v
from (values ('a'), ('b'), ('c')) as v(s)`,
    });
    const r = await p.kiln(['run']);
    expect(r.stderr).toBe('');
    expect(await pgQuery(`select days, months, later::text, agg, any_v from ${q(p.schema)}.x`)).toEqual([{ days: 30, months: 2, later: '2024-03-01', agg: 'c, b, a', any_v: 'a' }]);
  });
});
