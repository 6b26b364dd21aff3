/** The parse snapshot's file format: hot fields restored at once, cold ones on first read, and kept when saved again. */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSnapshot, saveSnapshot, type SnapshotKeys } from '../../src/compile/parseSnapshot.js';
import type { GraphNode } from '../../src/project/nodes.js';

const keys: SnapshotKeys = { key: 'k1', baseKey: 'b1', sqlFiles: { 'models/a.sql': 'sum-a' } };
const reads = { env: [], flagNames: [], flags: {} };

function model(name: string): GraphNode {
  return {
    uniqueId: `model.shop.${name}`, resourceType: 'model', name, packageName: 'shop', path: `${name}.sql`, originalFilePath: `models/${name}.sql`,
    fqn: ['shop', name], description: `about ${name}`, columns: [{ name: 'id', description: '', meta: {}, tags: [], constraints: [] }], constraints: [],
    meta: { owner: 'me' }, tags: ['t'], config: { materialized: 'view', tags: ['t'] }, relation: { schema: 'main', identifier: name },
    rawCode: `select 1 as id -- ${name}`, checksum: `sum-${name}`, refs: [], sources: [], macros: [], dependsOn: [], parsedSql: 'select 1 as id',
    placeholders: [], needsExecuteRender: false,
  } as unknown as GraphNode;
}

/** A generic test: its raw code is a template many tests share. */
function test(name: string): GraphNode {
  return {
    ...model(name), uniqueId: `test.shop.${name}`, resourceType: 'test', rawCode: `{{ test_not_null(model=get_where_subquery(ref(__kiln_test.name)), column_name=__kiln_test.args[0]) }}${' '.repeat(400)}`,
    testTemplateArgs: { args: ['id'], name, version: null, source: null },
  } as unknown as GraphNode;
}

function restore(path: string) {
  const found = loadSnapshot(path, keys, {});
  if (found?.kind !== 'current') throw new Error(`expected a current snapshot, got ${found?.kind}`);
  return found.restored;
}

describe('parse snapshot', () => {
  it('restores every field, and a restored node saved again keeps its cold fields', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-snap-')), 'kiln_parse_snapshot.bin');
    const nodes = new Map([model('a'), model('b')].map((n) => [n.uniqueId, n]));
    saveSnapshot(path, keys, reads, { nodes, disabled: new Map(), warnings: [], order: [...nodes.keys()] });
    const first = restore(path);
    // Saved again without any cold field having been read (what a large partial parse does).
    saveSnapshot(path, keys, reads, first);
    const second = restore(path);
    for (const id of nodes.keys()) {
      const n = second.nodes.get(id)! as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(nodes.get(id)!)) expect(n[k], `${id}.${k}`).toEqual(v);
    }
  });

  it('keeps the raw code tests share once, and gives it back to each test', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-snap-'));
    const save = (file: string, distinct: boolean) => {
      const nodes = new Map(Array.from({ length: 100 }, (_, i) => {
        const t = test(`t${i}`) as unknown as { rawCode: string };
        if (distinct) t.rawCode += String(i);
        return t as unknown as GraphNode;
      }).map((n) => [n.uniqueId, n]));
      saveSnapshot(join(dir, file), keys, reads, { nodes, disabled: new Map(), warnings: [], order: [...nodes.keys()] });
      return nodes;
    };
    save('distinct.bin', true);
    const nodes = save('many.bin', false);
    // One copy of the 480-character template instead of 100.
    expect(statSync(join(dir, 'distinct.bin')).size - statSync(join(dir, 'many.bin')).size).toBeGreaterThan(95 * 480);
    const restored = restore(join(dir, 'many.bin'));
    const rawCode = (n: GraphNode | undefined) => (n as unknown as { rawCode: string }).rawCode;
    for (const [id, n] of nodes) expect(rawCode(restored.nodes.get(id))).toBe(rawCode(n));
  });

  it('is not used under another key, or when a flag it read has another value', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-snap-')), 'kiln_parse_snapshot.bin');
    const nodes = new Map([model('a')].map((n) => [n.uniqueId, n]));
    saveSnapshot(path, keys, { env: [], flagNames: ['STORE_FAILURES'], flags: { STORE_FAILURES: false } }, { nodes, disabled: new Map(), warnings: [], order: [] });
    expect(loadSnapshot(path, keys, { STORE_FAILURES: false })?.kind).toBe('current');
    expect(loadSnapshot(path, keys, { STORE_FAILURES: true })).toBeUndefined();
    expect(loadSnapshot(path, { ...keys, baseKey: 'other' }, { STORE_FAILURES: false })).toBeUndefined();
    expect(loadSnapshot(path, { ...keys, key: 'k2', sqlFiles: { 'models/a.sql': 'sum-a2' } }, { STORE_FAILURES: false })).toMatchObject({ kind: 'partial', changedFiles: ['models/a.sql'] });
  });
});
