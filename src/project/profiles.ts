/**
 * profiles.yml: where it is found, which profile and target apply, and the embedded DuckDB default when
 * there is none. Search order: --profiles-dir, KILN_PROFILES_DIR, DBT_PROFILES_DIR, the project dir,
 * ~/.kiln/, ~/.dbt/.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { KilnError, type SourceLocation } from '../errors.js';
import { didYouMean } from '../suggest.js';
import { makeEnvVar, renderYamlTree } from './yamlRender.js';
import { isPlainObject, YamlFile } from './yamlFile.js';

export interface ResolvedTarget {
  profileName: string;
  targetName: string;
  type: string;
  /** The target's fields as written (rendered), `type` and `threads` included. */
  fields: Record<string, unknown>;
  /** profiles.yml it came from, or undefined for the embedded default. */
  file?: string;
  location: SourceLocation;
}

export interface ProfileSearch {
  profilesDir?: string;
  projectDir: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** Candidate directories in search order, each with the reason it is searched (for `kiln debug`). */
export function profileSearchPath(opts: ProfileSearch): { dir: string; why: string }[] {
  const env = opts.env ?? process.env;
  const home = opts.home ?? homedir();
  if (opts.profilesDir) return [{ dir: resolve(opts.profilesDir), why: '--profiles-dir' }];
  const dirs: { dir: string; why: string }[] = [];
  if (env.KILN_PROFILES_DIR) dirs.push({ dir: resolve(env.KILN_PROFILES_DIR), why: 'KILN_PROFILES_DIR' });
  if (env.DBT_PROFILES_DIR) dirs.push({ dir: resolve(env.DBT_PROFILES_DIR), why: 'DBT_PROFILES_DIR' });
  dirs.push({ dir: resolve(opts.projectDir), why: 'project directory' });
  dirs.push({ dir: join(home, '.kiln'), why: '~/.kiln' });
  dirs.push({ dir: join(home, '.dbt'), why: '~/.dbt' });
  return dirs;
}

export function findProfilesFile(opts: ProfileSearch): string | undefined {
  for (const { dir } of profileSearchPath(opts)) {
    const p = join(dir, 'profiles.yml');
    if (existsSync(p)) return p;
  }
  if (opts.profilesDir) {
    throw new KilnError('usage', `no profiles.yml in ${resolve(opts.profilesDir)} (given by --profiles-dir)`, {
      hint: 'Point --profiles-dir at the directory that holds profiles.yml, or leave it out to use the search path.',
    });
  }
  return undefined;
}

export function resolveTarget(opts: ProfileSearch & {
  profileName: string;
  targetName?: string;
  cliVars: Record<string, unknown>;
}): ResolvedTarget {
  const path = findProfilesFile(opts);
  if (!path) {
    if (opts.targetName && opts.targetName !== 'dev') {
      throw new KilnError('config', `no profiles.yml was found, so target '${opts.targetName}' cannot be resolved`, {
        hint: `Without a profiles.yml Kiln uses its embedded DuckDB target 'dev'. Searched: ${profileSearchPath(opts).map((d) => d.dir).join(', ')}.`,
      });
    }
    // No profiles.yml anywhere: the embedded default, a DuckDB file under target/.
    return {
      profileName: opts.profileName,
      targetName: opts.targetName ?? 'dev',
      type: 'duckdb',
      fields: { type: 'duckdb' },
      location: { file: '(embedded default target)' },
    };
  }
  const display = relative(process.cwd(), path) || path;
  const yaml = YamlFile.read(path, display.startsWith('..') ? path : display);
  const all = isPlainObject(yaml.data) ? yaml.data : {};
  const profiles = Object.keys(all).filter((k) => k !== 'config');
  const profile = all[opts.profileName];
  if (!isPlainObject(profile)) {
    throw new KilnError('config', `profile '${opts.profileName}' is not in ${yaml.file}`, {
      location: yaml.locate([]),
      hint:
        (didYouMean(opts.profileName, profiles) ?? `Profiles there: ${profiles.join(', ') || '(none)'}.`) +
        ` Add a '${opts.profileName}:' entry, or set 'profile:' in the project file to one of them.`,
    });
  }
  const ctx = {
    env_var: makeEnvVar(opts.env ?? process.env),
    var: (name: string, fallback?: unknown) => (name in opts.cliVars ? opts.cliVars[name] : fallback),
  };
  const rendered = renderYamlTree(profile, ctx, (p) => yaml.locate([opts.profileName, ...p])) as Record<string, unknown>;
  const targetName = opts.targetName ?? (rendered.target as string | undefined) ?? 'default';
  const outputs = rendered.outputs;
  if (!isPlainObject(outputs)) {
    throw new KilnError('config', `profile '${opts.profileName}' has no 'outputs:' mapping`, {
      location: yaml.locate([opts.profileName]),
      hint: 'Add outputs: {dev: {type: duckdb, path: target/dev.duckdb}} under the profile.',
    });
  }
  const target = outputs[targetName];
  if (!isPlainObject(target)) {
    throw new KilnError('config', `target '${targetName}' is not in profile '${opts.profileName}'`, {
      location: yaml.locate([opts.profileName, 'outputs']),
      hint: didYouMean(targetName, Object.keys(outputs)) ?? `Targets there: ${Object.keys(outputs).join(', ')}.`,
    });
  }
  const location = yaml.locate([opts.profileName, 'outputs', targetName]);
  if (typeof target.type !== 'string') {
    throw new KilnError('config', `target '${targetName}' has no 'type'`, {
      location,
      hint: 'Set type: duckdb (or postgres, redshift, bigquery, snowflake).',
    });
  }
  return { profileName: opts.profileName, targetName, type: target.type, fields: target, file: yaml.file, location };
}
