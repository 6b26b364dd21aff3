/**
 * The redshift adapter through the CLI: profile validation (method: iam fields), and the
 * cross-database macros compiled for Redshift (dispatch finds redshift__, then postgres__, then default__),
 * pinned and checked with a Redshift-aware parser. Compiling opens the warehouse, so this runs against the
 * PostgreSQL test server with the Redshift-on-Postgres switch.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from '@polyglot-sql/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runKiln, writeFiles } from '../helpers/project.js';
import { dropSchemas, pgServer, REDSHIFT_ON_POSTGRES_ENV, redshiftTarget, uniqueSchema } from '../pg/server.js';

const schema = uniqueSchema('e2e_rs');

afterAll(async () => {
  if (pgServer()) await dropSchemas(schema).catch(() => undefined);
});

function project(files: Record<string, string>, fields: Record<string, unknown>) {
  const dir = makeProject({ 'kiln_project.yml': 'name: rs\nprofile: rs\n', ...files }, 'kiln-e2e-rs-');
  const yaml = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
  writeFiles(dir, { 'profiles.yml': `rs:\n  target: prod\n  outputs:\n    prod:\n${yaml}\n` });
  return { dir, kiln: (args: string[]) => runKiln([...args, '--profiles-dir', dir], dir, REDSHIFT_ON_POSTGRES_ENV) };
}

describe.skipIf(!pgServer())('redshift adapter end to end', () => {
  it('compiles the cross-database macros to Redshift SQL', async () => {
    const p = project({
      'models/x.sql': `select
  {{ dbt.dateadd('day', 3, 'created_at') }} as later,
  {{ dbt.datediff('created_at', 'shipped_at', 'day') }} as days,
  {{ dbt.listagg('name', "', '", 'order by name') }} as names,
  {{ dbt.any_value('name') }} as any_name,
  {{ dbt.current_timestamp() }} as now_at,
  {{ dbt.cast_bool_to_text('flag') }} as flag_text,
  {{ dbt.string_literal("it's") }} as lit,
  cast(1 as {{ dbt.type_float() }}) as f
from orders
group by created_at, shipped_at, flag`,
    }, redshiftTarget(schema));
    const r = await p.kiln(['compile']);
    expect(r.stderr).toBe('');
    const sql = readFileSync(join(p.dir, 'target', 'compiled', 'rs', 'models', 'x.sql'), 'utf8').trim();
    expect(sql).toBe(`select
  dateadd(day, 3, created_at) as later,
  datediff(day, created_at, shipped_at) as days,
  listagg(name, ', ') within group (order by name) as names,
  any_value(name) as any_name,
  getdate() as now_at,
  case when flag then 'true' when not flag then 'false' end as flag_text,
  'it''s' as lit,
  cast(1 as double precision) as f
from orders
group by created_at, shipped_at, flag`);
    expect(validate(sql, 'redshift').errors).toEqual([]);
  });

  it('validates the profile: method iam fields and a required password', async () => {
    const base = { type: 'redshift', host: 'example.abc123.eu-west-1.redshift.amazonaws.com', user: 'kiln', dbname: 'dev', schema: 'analytics' };
    let p = project({ 'models/m.sql': 'select 1 as v' }, { ...base, method: 'iam', cluster_id: 'Bad_Cluster' });
    let r = await p.kiln(['parse']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/profiles\.yml:\d+(:\d+)?: redshift target: cluster_id 'Bad_Cluster' is not a Redshift cluster identifier/);

    p = project({ 'models/m.sql': 'select 1 as v' }, { ...base, method: 'iam', cluster_id: 'prod-1', region: 'mars-1' });
    r = await p.kiln(['parse']);
    expect(r.stderr).toMatch(/redshift target: region 'mars-1' is not an AWS region name/);

    p = project({ 'models/m.sql': 'select 1 as v' }, { ...base });
    r = await p.kiln(['parse']);
    expect(r.stderr).toMatch(/redshift target: field 'password' is required with method: database/);

    p = project({ 'models/m.sql': 'select 1 as v' }, { ...base, password: 'x', iam_profile: 'dev' });
    r = await p.kiln(['parse']);
    expect(r.stderr).toMatch(/redshift target: field 'iam_profile' belongs to method: iam/);

    // Valid IAM fields pass validation; opening the connection says IAM is not implemented yet.
    p = project({ 'models/m.sql': 'select 1 as v' }, { ...base, method: 'iam', cluster_id: 'prod-1', region: 'eu-west-1', iam_profile: 'analytics', threads: 1 });
    expect((await p.kiln(['parse'])).code).toBe(0);
    r = await p.kiln(['run']);
    expect(r.stderr).toMatch(/profiles\.yml:\d+(:\d+)?: redshift target: method: iam is validated but IAM authentication is not available in this version of Kiln/);
  });
});
