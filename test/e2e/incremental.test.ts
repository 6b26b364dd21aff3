/**
 * Incremental models through the real CLI on DuckDB: every strategy over several runs (inserts, updates,
 * deletes of the source), exact table contents after each run, key checks, on_schema_change modes,
 * full refresh, and atomicity (a failed step leaves the target as it was).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, queryDuckdb, runKiln, writeFiles, type CliResult } from '../helpers/project.js';

const db = (dir: string) => join(dir, 'target', 'shop.duckdb');

/** A project whose model `inc` reads the seed `src`; `csv` is rewritten between runs. */
function project(model: string, csv: string) {
  const dir = makeProject({ 'kiln_project.yml': 'name: shop\n', 'seeds/src.csv': csv, 'models/inc.sql': model });
  return {
    dir,
    async run(nextCsv?: string, args: string[] = []): Promise<CliResult> {
      if (nextCsv !== undefined) writeFiles(dir, { 'seeds/src.csv': nextCsv });
      return runKiln(['build', ...args], dir);
    },
    rows: (sql = 'select * from main.inc order by all') => queryDuckdb(db(dir), sql),
  };
}

const cfg = (c: string, filter = '') => `{{ config(materialized='incremental', ${c}) }}\nselect * from {{ ref('src') }}\n${filter}`;
const onlyNew = "{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}";

describe('strategies over several runs', () => {
  it('append adds the new rows only', async () => {
    const p = project(cfg("incremental_strategy='append'", onlyNew), 'id,v\n1,a\n2,b\n');
    expect((await p.run()).code).toBe(0);
    expect(await p.rows()).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'b' }]);
    const r = await p.run('id,v\n1,a\n2,changed\n3,c\n');
    expect(r.stdout).toMatch(/OK created sql incremental model main\.inc \.+ \[INSERT 1 in/);
    expect(await p.rows()).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }]);
    await p.run('id,v\n4,d\n');
    expect(await p.rows()).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }, { id: 4, v: 'd' }]);
    // --full-refresh rebuilds from the source as it is now.
    await p.run(undefined, ['--full-refresh']);
    expect(await p.rows()).toEqual([{ id: 4, v: 'd' }]);
  });

  it('merge updates matched rows and inserts new ones; merge_update_columns and merge_exclude_columns limit the update', async () => {
    const p = project(cfg("incremental_strategy='merge', unique_key='id'"), 'id,v,w\n1,a,x\n2,b,x\n');
    await p.run();
    let r = await p.run('id,v,w\n2,B,y\n3,c,y\n');
    expect(r.stdout).toContain('[MERGE 2 in');
    expect(await p.rows()).toEqual([{ id: 1, v: 'a', w: 'x' }, { id: 2, v: 'B', w: 'y' }, { id: 3, v: 'c', w: 'y' }]);
    writeFiles(p.dir, { 'models/inc.sql': cfg("incremental_strategy='merge', unique_key='id', merge_update_columns=['v']") });
    await p.run('id,v,w\n1,A,z\n');
    expect(await p.rows()).toEqual([{ id: 1, v: 'A', w: 'x' }, { id: 2, v: 'B', w: 'y' }, { id: 3, v: 'c', w: 'y' }]);
    writeFiles(p.dir, { 'models/inc.sql': cfg("incremental_strategy='merge', unique_key='id', merge_exclude_columns=['v']") });
    r = await p.run('id,v,w\n3,C,z\n4,d,z\n');
    expect(r.code).toBe(0);
    expect(await p.rows()).toEqual([{ id: 1, v: 'A', w: 'x' }, { id: 2, v: 'B', w: 'y' }, { id: 3, v: 'c', w: 'z' }, { id: 4, v: 'd', w: 'z' }]);
  });

  it('merge and delete+insert on a composite key, with incremental_predicates', async () => {
    for (const strategy of ['merge', 'delete+insert']) {
      const p = project(cfg(`incremental_strategy='${strategy}', unique_key=['k1', 'k2'], incremental_predicates=["DBT_INTERNAL_DEST.k1 != 'frozen'"]`),
        'k1,k2,v\na,1,x\na,2,x\nfrozen,1,x\n');
      await p.run();
      await p.run('k1,k2,v\na,2,y\nb,1,y\n');
      expect(await p.rows()).toEqual([
        { k1: 'a', k2: 1, v: 'x' }, { k1: 'a', k2: 2, v: 'y' }, { k1: 'b', k2: 1, v: 'y' }, { k1: 'frozen', k2: 1, v: 'x' },
      ]);
      // The predicate keeps 'frozen' rows out of the match: merge inserts a second row, delete+insert keeps the old one.
      await p.run('k1,k2,v\nfrozen,1,z\n');
      expect((await p.rows("select * from main.inc where k1 = 'frozen' order by v")).map((r) => r.v)).toEqual(['x', 'z']);
    }
  });

  it('delete+insert replaces every row of a key, however many there were', async () => {
    const p = project(cfg("incremental_strategy='delete+insert', unique_key='id'"), 'id,v\n1,a\n2,b\n');
    await p.run();
    await p.run('id,v\n2,B\n3,c\n');
    expect(await p.rows()).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'B' }, { id: 3, v: 'c' }]);
    await p.run('id,v\n1,A\n');
    expect(await p.rows()).toEqual([{ id: 1, v: 'A' }, { id: 2, v: 'B' }, { id: 3, v: 'c' }]);
  });

  it('insert_overwrite replaces the partitions present in the new rows, the null partition included', async () => {
    const p = project(cfg("incremental_strategy='insert_overwrite', partition_by={'field': 'day', 'data_type': 'date'}"),
      'day,v\n2024-01-01,a\n2024-01-01,b\n2024-01-02,c\n,n\n');
    await p.run();
    await p.run('day,v\n2024-01-02,C\n2024-01-03,d\n');
    const days = async () => (await p.rows('select strftime(day, \'%d\') as d, v from main.inc order by all')).map((r) => `${String(r.d)}:${String(r.v)}`);
    expect(await days()).toEqual(['01:a', '01:b', '02:C', '03:d', 'null:n']);
    await p.run('day,v\n2024-01-01,A\n,N\n');
    expect(await days()).toEqual(['01:A', '02:C', '03:d', 'null:N']);
  });
});

describe('what a merge must not do', () => {
  it('refuses null and repeated unique keys before touching the target', async () => {
    const p = project(cfg("incremental_strategy='merge', unique_key='id'"), 'id,v\n1,a\n');
    await p.run();
    let r = await p.run('id,v\n,x\n2,b\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'inc': 1 new row has a null unique_key (id); nothing was changed");
    r = await p.run('id,v\n2,b\n2,c\n3,d\n3,e\n3,f\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'inc': the unique_key (id) repeats in the new rows; nothing was changed");
    expect(r.stderr).toContain('| id | rows |\n    |----|------|\n    | 3  | 3    |\n    | 2  | 2    |');
    expect(await p.rows()).toEqual([{ id: 1, v: 'a' }]);
    expect(await p.rows("select table_name from information_schema.tables where table_name like '%kiln%'")).toEqual([]);
  });

  it('a failing step rolls back: the target keeps its rows', async () => {
    const p = project(cfg("incremental_strategy='delete+insert', unique_key='id'"), 'id,v\n1,1\n2,2\n');
    await p.run();
    // v becomes text that cannot go into the integer column: the insert fails after the delete.
    const r = await p.run('id,v\n2,oops\n');
    expect(r.code).toBe(1);
    expect(await p.rows()).toEqual([{ id: 1, v: 1 }, { id: 2, v: 2 }]);
  });

  it('an unsupported strategy names the model and the strategies the adapter runs', async () => {
    const p = project(cfg("incremental_strategy='replace_where'"), 'id\n1\n');
    await p.run();
    const r = await p.run();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'inc' asks for incremental_strategy 'replace_where', which the duckdb adapter does not run");
    expect(r.stderr).toContain('Strategies on duckdb: append, merge, delete+insert, insert_overwrite, microbatch.');
  });
});

describe('on_schema_change', () => {
  const first = 'id,a,b\n1,x,10\n';
  const second = 'id,a,c\n2,y,2024-01-01\n'; // b is gone, c is new

  it('ignore keeps the table as it is; fail stops with the differences', async () => {
    let p = project(cfg("unique_key='id', on_schema_change='ignore'"), first);
    await p.run();
    expect((await p.run(second)).code).toBe(0);
    expect(await p.rows()).toEqual([{ id: 1, a: 'x', b: 10 }, { id: 2, a: 'y', b: null }]);

    p = project(cfg("unique_key='id', on_schema_change='fail'"), first);
    await p.run();
    const r = await p.run(second);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'inc' changed its columns and has on_schema_change: fail: new column c (DATE); missing column b; nothing was changed");
    expect(await p.rows()).toEqual([{ id: 1, a: 'x', b: 10 }]);
  });

  it('append_new_columns adds columns; sync_all_columns also drops and retypes, and the output line says so', async () => {
    let p = project(cfg("unique_key='id', on_schema_change='append_new_columns'"), first);
    await p.run();
    let r = await p.run(second);
    // With a unique_key and no strategy, DuckDB (like dbt-duckdb and dbt-postgres) deletes and inserts.
    expect(r.stdout).toContain('[INSERT 1 (added c) in');
    expect(await p.rows('select id, a, b, c::varchar as c from main.inc order by id')).toEqual([
      { id: 1, a: 'x', b: 10, c: null }, { id: 2, a: 'y', b: null, c: '2024-01-01' },
    ]);

    // a widens from integer to double; b goes; c comes.
    p = project(cfg("unique_key='id', on_schema_change='sync_all_columns'"), 'id,a,b\n1,7,10\n');
    await p.run();
    r = await p.run('id,a,c\n2,3.5,2024-01-01\n');
    expect(r.stdout).toContain('(added c, dropped b, retyped a)');
    expect(await p.rows("select column_name, data_type from information_schema.columns where table_name = 'inc' order by ordinal_position")).toEqual([
      { column_name: 'id', data_type: 'BIGINT' }, { column_name: 'a', data_type: 'DOUBLE' }, { column_name: 'c', data_type: 'DATE' },
    ]);
    expect(await p.rows('select id, a from main.inc order by id')).toEqual([{ id: 1, a: 7 }, { id: 2, a: 3.5 }]);
  });
});

describe('when a run is incremental', () => {
  it('is_incremental() is false on the first run, on --full-refresh and when a view is in the way; full_refresh: false wins over the flag', async () => {
    const model = "{{ config(materialized='incremental') }}select {{ 'true' if is_incremental() else 'false' }} as incremental, count(*) as n from {{ ref('src') }}";
    const p = project(model, 'id\n1\n');
    await p.run();
    await p.run();
    expect(await p.rows()).toEqual([{ incremental: false, n: 1 }, { incremental: true, n: 1 }]);
    await p.run(undefined, ['--full-refresh']);
    expect(await p.rows()).toEqual([{ incremental: false, n: 1 }]);
    writeFiles(p.dir, { 'models/inc.sql': model.replace("materialized='incremental'", "materialized='incremental', full_refresh=false") });
    await p.run(undefined, ['--full-refresh']);
    expect(await p.rows()).toEqual([{ incremental: false, n: 1 }, { incremental: true, n: 1 }]);

    const v = project("{{ config(materialized='view') }}select 1 as id", 'id\n1\n');
    await v.run();
    writeFiles(v.dir, { 'models/inc.sql': "{{ config(materialized='incremental') }}select {{ 'true' if is_incremental() else 'false' }} as incremental" });
    await v.run();
    expect(await v.rows("select table_type from information_schema.tables where table_name = 'inc'")).toEqual([{ table_type: 'BASE TABLE' }]);
    expect(await v.rows()).toEqual([{ incremental: false }]);
  });
});
