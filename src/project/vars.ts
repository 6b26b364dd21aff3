/**
 * `var()` resolution with dbt's precedence: --vars > the root project's vars scoped to the package >
 * the root project's global vars > the package's own project vars > the default in the call.
 */
import { KilnError } from '../errors.js';
import { isPlainObject } from './yamlFile.js';

export interface VarsSnapshot {
  cliVars: Record<string, unknown>;
  projectVars: Record<string, unknown>;
  packageNames: string[];
  packageDefaults: [string, Record<string, unknown>][];
}

export class Vars {
  constructor(
    private readonly cliVars: Record<string, unknown>,
    private readonly projectVars: Record<string, unknown>,
    private readonly packageNames: ReadonlySet<string>,
    packageDefaults: ReadonlyMap<string, Record<string, unknown>> = new Map(),
  ) {
    // A package's own project file may scope vars to itself (`vars: {pkg: {x: 1}}`), as Fivetran's do.
    this.packageDefaults = new Map([...packageDefaults].map(([pkg, own]) => {
      const flat: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(own)) if (!(k === pkg && isPlainObject(v))) flat[k] = v;
      return [pkg, { ...flat, ...(isPlainObject(own[pkg]) ? own[pkg] : {}) }];
    }));
  }

  private readonly packageDefaults: ReadonlyMap<string, Record<string, unknown>>;

  /** Everything needed to rebuild this object in a worker thread (structured-clone friendly). */
  snapshot(): VarsSnapshot {
    return { cliVars: this.cliVars, projectVars: this.projectVars, packageNames: [...this.packageNames], packageDefaults: [...this.packageDefaults] };
  }

  static fromSnapshot(s: VarsSnapshot): Vars {
    return new Vars(s.cliVars, s.projectVars, new Set(s.packageNames), new Map(s.packageDefaults));
  }

  /** All vars visible to `packageName`, merged (used for the cache key and `builtins.var`). */
  visible(packageName: string): Record<string, unknown> {
    const global: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.projectVars)) {
      if (this.packageNames.has(k) && isPlainObject(v)) continue;
      global[k] = v;
    }
    const scoped = this.projectVars[packageName];
    return { ...(this.packageDefaults.get(packageName) ?? {}), ...global, ...(isPlainObject(scoped) && this.packageNames.has(packageName) ? scoped : {}), ...this.cliVars };
  }

  has(name: string, packageName: string): boolean {
    return name in this.visible(packageName);
  }

  get(name: string, packageName: string, fallback?: unknown, hasFallback = fallback !== undefined): unknown {
    if (name in this.cliVars) return this.cliVars[name];
    const scoped = this.projectVars[packageName];
    if (isPlainObject(scoped) && this.packageNames.has(packageName) && name in scoped) return scoped[name];
    if (name in this.projectVars && !(this.packageNames.has(name) && isPlainObject(this.projectVars[name]))) {
      return this.projectVars[name];
    }
    const own = this.packageDefaults.get(packageName);
    if (own && name in own) return own[name];
    if (hasFallback) return fallback;
    throw new KilnError('compile', `required var '${name}' is not set`, {
      hint: `Pass it with --vars '{${name}: value}', set it under vars: in the project file, or give var() a default.`,
    });
  }
}
