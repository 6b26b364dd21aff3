/**
 * Large parses render half of the models on a worker thread. The threshold is lowered here so a small
 * project takes that path; results, logs and errors must be the same as on one thread.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, runKiln } from '../helpers/project.js';

function project(extra: Record<string, string> = {}) {
  const files: Record<string, string> = {
    'kiln_project.yml': 'name: par\nvars:\n  k: 7\n',
    'macros/m.sql': "{% macro twice(x) %}({{ x }} * 2){% endmacro %}",
  };
  for (let i = 0; i < 12; i++) {
    const parent = i === 0 ? '' : ` from {{ ref('m${String(i - 1).padStart(2, '0')}') }}`;
    files[`models/m${String(i).padStart(2, '0')}.sql`] =
      `{{ config(tags=['t${i % 3}']) }}{% do log('rendering m${i}', info=True) %}select {{ twice(var('k')) }} + ${i} as v${parent}`;
  }
  return makeProject({ ...files, ...extra });
}

const WORKER = { KILN_PARSE_WORKER_MIN_NODES: '2' };

describe('parse on a worker thread', () => {
  it('produces the same manifest and compiled SQL as a single-threaded parse', async () => {
    const one = project();
    const two = project();
    expect((await runKiln(['compile', '--no-partial-parse'], one, { KILN_PARSE_WORKER_MIN_NODES: '100000' })).code).toBe(0);
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], two, WORKER);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parse: rendered 12 models, 6 of them on a worker thread');
    // log() calls made on the worker are printed too.
    for (let i = 0; i < 12; i++) expect(r.stdout).toContain(`rendering m${i}`);
    const nodesOf = (dir: string) => {
      const m = JSON.parse(readFileSync(join(dir, 'target/manifest.json'), 'utf8'));
      return Object.fromEntries(Object.entries(m.nodes as Record<string, { compiled_code: string; tags: string[]; depends_on: unknown }>)
        .map(([id, n]) => [id, [n.compiled_code, n.tags, n.depends_on]]));
    };
    expect(nodesOf(two)).toEqual(nodesOf(one));
    expect(readFileSync(join(two, 'target/compiled/par/models/m11.sql'), 'utf8')).toBe('select (7 * 2) + 11 as v from "par"."main"."m10"');
  });

  it('renders generic tests on both threads, and a test failing on the worker is told at its YAML line', async () => {
    const yaml = (second: string) => `models:\n  - name: m00\n    columns:\n      - name: v\n        data_tests: [not_null, ${second}]\n`;
    let dir = project({ 'models/schema.yml': yaml('unique') });
    const r = await runKiln(['compile', '--no-partial-parse', '--debug'], dir, WORKER);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parse: rendered 14 models, 7 of them on a worker thread');
    expect(readFileSync(join(dir, 'target/compiled/par/models/schema.yml/unique_m00_v.sql'), 'utf8')).toContain('group by v');
    dir = project({ 'models/schema.yml': yaml('uniqe') });
    const bad = await runKiln(['parse', '--no-partial-parse'], dir, WORKER);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("models/schema.yml:5:32: unknown generic test 'uniqe'");
  });

  it('stops a worker started before the nodes were known when too few need rendering, and after a YAML error', async () => {
    // 12 models are enough to start the worker early (models × 3 ≥ 36) but fewer renders than 37.
    let dir = project();
    let r = await runKiln(['compile', '--no-partial-parse', '--debug'], dir, { KILN_PARSE_WORKER_MIN_NODES: '36' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parse: rendered 12 models, 0 of them on a worker thread');
    dir = project({ 'models/schema.yml': 'models:\n  - name: m00\n    columns: [\n' });
    r = await runKiln(['compile', '--no-partial-parse'], dir, WORKER);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('models/schema.yml');
  });

  it('reports an error from the worker half with its file and line', async () => {
    const dir = project({ 'models/m11.sql': 'select 1\n\n{{ missing_macro() }}' });
    const r = await runKiln(['parse', '--no-partial-parse'], dir, WORKER);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/m11\.sql:3:\d+: Jinja error in model 'm11'/);
  });
});
