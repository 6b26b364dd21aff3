/**
 * YAML is read by js-yaml into plain values (fast), and by the `yaml` package only when a position is
 * asked for. Both must give the same values, and a located message must name the same line as before.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { formatLocation, KilnError, resolveLocation } from '../../src/errors.js';
import { Diagnostics } from '../../src/project/diagnostics.js';
import { YamlFile } from '../../src/project/yamlFile.js';
import { readPlainYaml } from '../../src/project/yamlPlain.js';

/** What the `yaml` package reads, in a comparable form (NaN, ±Infinity and -0 as text). */
function viaYamlPackage(text: string): string {
  return comparable(parseDocument(text, { uniqueKeys: true }).toJS() ?? null);
}

function comparable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && (!Number.isFinite(x) || Object.is(x, -0)) ? `number:${Object.is(x, -0) ? '-0' : x}` : x));
}

const SAME_VALUES = [
  // Numbers as the YAML 1.2 core schema has them (not YAML 1.1's, not js-yaml's defaults).
  'a: 0777', 'a: 0o17', 'a: 0x1F', 'a: 1_000', 'a: 1e3', 'a: 1E3', 'a: 0.1e+2', 'a: -1.5e-3', 'a: .inf', 'a: -.Inf', 'a: .NaN',
  'a: 1.', 'a: .5', 'a: +.5', 'a: +12', 'a: -0', 'a: 09', 'a: 0b101', 'a: -0x1', 'a: 0.0.1', 'a: 1.50', 'a: 12345678901234567890', 'a: 1:20',
  // Booleans and nulls: yes/no/on stay text, as in dbt's YAML 1.2 reading by Kiln before.
  'a: yes', 'a: No', 'a: on', 'a: True', 'a: TRUE', 'a: tRue', 'a: ~', 'a: Null', 'a: NULL', 'a:', 'a: [~, null, Null, ""]',
  // Dates stay text; merge keys are ordinary keys in YAML 1.2.
  'a: 2024-01-01', 'a: 2024-01-01 10:00:00', 'base: &b {x: 1}\nd:\n  <<: *b\n  y: 2',
  // Strings, block scalars, quoting, tags, anchors.
  'a: |\n  line1\n  line2\n', 'a: >-\n  folded\n  text\n\n  more\n', 'a: |+\n  keep\n\n', 'a: "esc \\t \\u00e9 \\x41"', "a: 'it''s'",
  'a: "multi\n  line"', 'a: plain\n  continued', 'a: !!str 12', 'a: !!int "12"', 'a: &x 1\nb: *x', "description: '{{ doc(\"orders\") }}'",
  'a: see {{ x }}', '1: x\n2.5: y\ntrue: z', '---\na: 1\n', '', '# only a comment', '[1, 2]', 'just text', 'a: {b: , c: d}',
  'models:\n  - name: m\n    config: {materialized: table, tags: [a, b]}\n    columns:\n      - name: id\n        data_tests: [unique, not_null]\n',
];

describe('readPlainYaml', () => {
  it.each(SAME_VALUES)('reads %j as the yaml package does', (text) => {
    const plain = readPlainYaml(text);
    expect(plain).toBeDefined();
    expect(comparable(plain!.value)).toBe(viaYamlPackage(text));
  });

  it.each([
    ['a syntax error', 'a: "unterminated'],
    ['a duplicate key', 'a: 1\na: 2'],
    ['an unknown tag', 'a: !custom x'],
    ['an undefined alias', 'a: *missing'],
    ['two documents', '---\na: 1\n---\nb: 2\n'],
    ['a collection as a key', '? [a, b]\n: 1'],
    ['a null key', '~: x'],
    ['unquoted Jinja (a map as a key)', 'a: {{ x }}'],
    ['a %YAML directive', '%YAML 1.1\n---\na: yes'],
  ])('leaves %s to the yaml package', (_what, text) => {
    expect(readPlainYaml(text)).toBeUndefined();
  });
});

describe('YamlFile positions', () => {
  const text = 'models:\n  - name: orders\n    columns:\n      - name: id\n        data_tests: [unique, not_nul]\n';

  it('finds a position only when a message needs it', () => {
    const yaml = YamlFile.parse(text, 'models/schema.yml');
    const loc = yaml.locate(['models', 0, 'columns', 0, 'data_tests', 1]);
    expect(loc.line).toBeUndefined();
    expect(loc.pending).toBeDefined();
    expect(formatLocation(loc)).toBe('models/schema.yml:5:30');
    expect(loc).toEqual({ file: 'models/schema.yml', line: 5, column: 30 });
    const err = new KilnError('config', 'bad', { location: yaml.locate(['models', 0, 'columns'], true) });
    expect(err.location).toEqual({ file: 'models/schema.yml', line: 3, column: 5 });
    const diags = new Diagnostics();
    diags.unknownKeys(yaml, ['models', 0], { name: 'orders', colums: [] }, ['name', 'columns'], "model 'orders'");
    expect(diags.warnings[0].location).toEqual({ file: 'models/schema.yml', line: 2, column: 5 });
  });

  it('finds it again from the file after the location was serialized (a restored parse snapshot)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-yaml-'));
    const abs = join(dir, 'schema.yml');
    writeFileSync(abs, text);
    const yaml = YamlFile.parse(text, 'models/schema.yml', abs);
    const restored = deserialize(serialize([yaml.locate(['models', 0, 'columns', 0]), yaml.locate(['models', 0, 'name'], true)]));
    // One shared source object per file, without the in-memory link to the YamlFile.
    expect(restored[0].pending.source).toBe(restored[1].pending.source);
    expect(Object.keys(restored[0].pending.source)).toEqual(['absPath']);
    expect(resolveLocation(restored[0])).toEqual({ file: 'models/schema.yml', line: 4, column: 9 });
    expect(resolveLocation(restored[1])).toEqual({ file: 'models/schema.yml', line: 2, column: 5 });
  });

  it('reports invalid YAML with its line, and an alias to a missing anchor without a stack trace', () => {
    expect(() => YamlFile.parse('a: [1,\nb: 2\n', 'x.yml')).toThrow(/invalid YAML/);
    try {
      YamlFile.parse('a: 1\nb: "open\n', 'x.yml');
    } catch (e) {
      expect((e as KilnError).location).toMatchObject({ file: 'x.yml', line: expect.any(Number) });
    }
    expect(() => YamlFile.parse('a: *missing\n', 'x.yml')).toThrow(KilnError);
    expect(() => YamlFile.parse('a: *missing\n', 'x.yml')).toThrow(/invalid YAML: .*missing/);
  });
});
