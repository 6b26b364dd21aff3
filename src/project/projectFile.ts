/**
 * The project file: `kiln_project.yml`, else `dbt_project.yml`, with dbt's keys (older spellings included:
 * `source-paths`, `data-paths`, `modules-path`) and positions for every error.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { Diagnostics, expectType, stringList } from './diagnostics.js';
import { ConfigTree } from './nodeConfig.js';
import { makeEnvVar, renderYamlTree } from './yamlRender.js';
import { isPlainObject, YamlFile } from './yamlFile.js';

export const PROJECT_FILES = ['kiln_project.yml', 'dbt_project.yml'];

export interface ProjectFile {
  dir: string;
  /** Path of the project file relative to `dir` (how errors name it). */
  file: string;
  yaml: YamlFile;
  name: string;
  version?: string;
  profile?: string;
  modelPaths: string[];
  seedPaths: string[];
  macroPaths: string[];
  testPaths: string[];
  snapshotPaths: string[];
  analysisPaths: string[];
  targetPath: string;
  cleanTargets: string[];
  packagesInstallPath: string;
  /** Global vars and per-package scoped vars (`vars: {pkg: {x: 1}}`), as written. */
  vars: Record<string, unknown>;
  onRunStart: string[];
  onRunEnd: string[];
  quoting: Record<string, unknown>;
  dispatch: { macro_namespace: string; search_order: string[] }[];
  trees: Record<'models' | 'seeds' | 'snapshots' | 'sources' | 'tests' | 'analyses', ConfigTree>;
}

const KNOWN_KEYS = [
  'name', 'version', 'config-version', 'profile', 'model-paths', 'source-paths', 'seed-paths', 'data-paths',
  'macro-paths', 'test-paths', 'snapshot-paths', 'analysis-paths', 'docs-paths', 'asset-paths', 'target-path',
  'log-path', 'packages-install-path', 'modules-path', 'clean-targets', 'query-comment', 'require-dbt-version',
  'quoting', 'models', 'seeds', 'snapshots', 'sources', 'tests', 'data_tests', 'metrics', 'semantic-models',
  'saved-queries', 'exposures', 'analyses', 'unit_tests', 'vars', 'on-run-start', 'on-run-end', 'dispatch',
  'restrict-access', 'flags', 'dbt-cloud', 'require-kiln-version', 'functions',
];
const PATH_KEYS: [string, string | undefined, string[]][] = [
  ['model-paths', 'source-paths', ['models']],
  ['seed-paths', 'data-paths', ['seeds']],
  ['macro-paths', undefined, ['macros']],
  ['test-paths', undefined, ['tests']],
  ['snapshot-paths', undefined, ['snapshots']],
  ['analysis-paths', undefined, ['analyses']],
];

export function findProjectFile(dir: string): string | undefined {
  return PROJECT_FILES.find((f) => existsSync(join(dir, f)));
}

export function loadProjectFile(projectDir: string, diags: Diagnostics, cliVars: Record<string, unknown>, target?: Record<string, unknown>): ProjectFile {
  const dir = resolve(projectDir);
  const file = findProjectFile(dir);
  if (!file) {
    throw new KilnError('usage', `no kiln_project.yml or dbt_project.yml in ${dir}`, {
      hint: 'Run kiln from a project directory, pass --project-dir, or create a project with `kiln init`.',
    });
  }
  const yaml = YamlFile.read(join(dir, file), file);
  if (!isPlainObject(yaml.data)) {
    throw new KilnError('config', 'the project file must be a mapping of keys to values', { location: yaml.locate([]) });
  }
  const raw = yaml.data;
  diags.unknownKeys(yaml, [], raw, KNOWN_KEYS, 'the project file');

  // Jinja in the project file sees env_var and the CLI vars (dbt renders it before project vars exist).
  const ctx = {
    env_var: makeEnvVar(),
    var: (name: string, fallback?: unknown) => (name in cliVars ? cliVars[name] : fallback),
    target,
  };
  const skip = new Set(['on-run-start', 'on-run-end', 'pre-hook', 'post-hook', '+pre-hook', '+post-hook', 'vars', 'models', 'seeds', 'snapshots', 'tests', 'data_tests', 'sources', 'analyses']);
  const data = renderYamlTree(raw, ctx, (p) => yaml.locate(p), skip) as Record<string, unknown>;

  for (const key of ['name', 'version', 'profile', 'target-path', 'packages-install-path', 'modules-path', 'log-path']) {
    expectType(yaml, [key], data[key], key === 'version' ? ['string', 'number'] : ['string']);
  }
  if (typeof data.name !== 'string' || !data.name) {
    throw new KilnError('config', "the project file has no 'name'", {
      location: yaml.locate([]),
      hint: "Add `name: my_project` (letters, digits and underscores).",
    });
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(data.name)) {
    throw new KilnError('config', `project name '${data.name}' must be letters, digits and underscores`, {
      location: yaml.locate(['name']),
    });
  }
  const paths: Record<string, string[]> = {};
  for (const [key, oldKey, fallback] of PATH_KEYS) {
    const useKey = data[key] !== undefined ? key : oldKey && data[oldKey] !== undefined ? oldKey : key;
    expectType(yaml, [useKey], data[useKey], ['list', 'string']);
    paths[key] = data[useKey] !== undefined ? stringList(data[useKey]) : fallback;
  }
  for (const key of ['clean-targets', 'on-run-start', 'on-run-end']) expectType(yaml, [key], data[key], ['list', 'string']);
  for (const key of ['vars', 'models', 'seeds', 'snapshots', 'sources', 'tests', 'data_tests', 'quoting', 'analyses']) {
    expectType(yaml, [key], data[key], ['mapping']);
  }
  expectType(yaml, ['dispatch'], data.dispatch, ['list']);
  const targetPath = (data['target-path'] as string | undefined) ?? 'target';
  const tree = (key: string) => new ConfigTree((data[key] as Record<string, unknown>) ?? {}, yaml, [key]);
  const testsKey = data.data_tests !== undefined ? 'data_tests' : 'tests';
  return {
    dir,
    file,
    yaml,
    name: data.name,
    version: data.version === undefined ? undefined : String(data.version),
    profile: data.profile as string | undefined,
    modelPaths: paths['model-paths'],
    seedPaths: paths['seed-paths'],
    macroPaths: paths['macro-paths'],
    testPaths: paths['test-paths'],
    snapshotPaths: paths['snapshot-paths'],
    analysisPaths: paths['analysis-paths'],
    targetPath,
    cleanTargets: data['clean-targets'] !== undefined ? stringList(data['clean-targets']) : [targetPath],
    packagesInstallPath: (data['packages-install-path'] as string) ?? (data['modules-path'] as string) ?? 'dbt_packages',
    vars: (data.vars as Record<string, unknown>) ?? {},
    onRunStart: stringList(data['on-run-start']),
    onRunEnd: stringList(data['on-run-end']),
    quoting: (data.quoting as Record<string, unknown>) ?? {},
    dispatch: ((data.dispatch as { macro_namespace: string; search_order: string[] }[]) ?? []),
    trees: {
      models: tree('models'),
      seeds: tree('seeds'),
      snapshots: tree('snapshots'),
      sources: tree('sources'),
      tests: tree(testsKey),
      analyses: tree('analyses'),
    },
  };
}
