/**
 * The macro registry. Every `{% macro %}` (and `{% test %}`, stored as `test_<name>`) in the project's
 * macro-paths, installed packages and Kiln's own `macros/` is callable by name from models and macros.
 * Precedence as in dbt: root project > packages > built-ins. Files are compiled lazily, once per
 * invocation, the first time one of their macros is looked up; macro bodies see the context of the node
 * being rendered through a dynamic scope (see RenderScope).
 */
import nunjucks from 'nunjucks';
import { KilnError } from '../errors.js';
import type { MacroFile } from '../project/loadProject.js';
import type { Env } from './environment.js';
import { runTemplate, type CompiledTemplate } from './nunjucksInternals.js';
import { translateTemplateError } from './templateErrors.js';


/** Package name under which Kiln's built-in macros live; also reachable as `dbt.<macro>`. */
export const BUILTIN_PACKAGE = 'kiln';

export interface MacroDef {
  name: string;
  packageName: string;
  path: string;
  line: number;
  file: MacroFile;
}

/** The variables of the node currently being rendered. Rendering is synchronous, so one pointer suffices. */
export class RenderScope {
  current: Record<string, unknown> = {};
  /** Macro names looked up during the current render (the node's depends_on.macros). */
  macrosUsed = new Set<string>();
}

const MACRO_DEF = /\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/g;

/** Turn dbt-only block tags into what Nunjucks understands, keeping line numbers. */
export function preprocessMacroSource(src: string): string {
  return src
    .replace(/\{%(-?)\s*test\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/g, '{%$1 macro test_$2(')
    .replace(/\{%(-?)\s*endtest\s*(-?)%\}/g, '{%$1 endmacro $2%}')
    .replace(/\{%-?\s*materialization\s[\s\S]*?\{%-?\s*endmaterialization\s*-?%\}/g, (m) => m.replace(/[^\n]/g, ''));
}

export class MacroRegistry {
  /** All definitions by name, highest precedence first. */
  private readonly defs = new Map<string, MacroDef[]>();
  private readonly byPackage = new Map<string, Map<string, MacroDef>>();
  private readonly compiled = new Map<MacroFile, Record<string, unknown>>();

  constructor(
    private readonly env: Env,
    private readonly scope: RenderScope,
    files: readonly MacroFile[],
    private readonly rootPackage: string,
    /** Adapter type first, then the adapters it inherits from (redshift → postgres). */
    private readonly adapterPrefixes: readonly string[],
    private readonly dispatchConfig: readonly { macro_namespace: string; search_order: string[] }[] = [],
  ) {
    const rank = (pkg: string) => (pkg === rootPackage ? 0 : pkg === BUILTIN_PACKAGE ? 2 : 1);
    for (const file of files) {
      for (const m of file.content.matchAll(MACRO_DEF)) {
        const name = m[1] === 'test' ? `test_${m[2]}` : m[2];
        const line = file.content.slice(0, m.index).split('\n').length;
        const def: MacroDef = { name, packageName: file.packageName, path: file.path, line, file };
        const list = this.defs.get(name) ?? [];
        list.push(def);
        list.sort((a, b) => rank(a.packageName) - rank(b.packageName));
        this.defs.set(name, list);
        let pkg = this.byPackage.get(file.packageName);
        if (!pkg) this.byPackage.set(file.packageName, (pkg = new Map()));
        if (!pkg.has(name)) pkg.set(name, def);
      }
    }
  }

  /** Expose every macro as a global (winning definition) and each package as a namespace object. */
  installGlobals(): void {
    const globals = (this.env as unknown as { globals: Record<string, unknown> }).globals;
    for (const name of this.defs.keys()) {
      Object.defineProperty(globals, name, {
        configurable: true,
        enumerable: true,
        get: () => {
          this.scope.macrosUsed.add(name);
          return this.callable(this.defs.get(name)![0]);
        },
      });
    }
    for (const [pkgName, macros] of this.byPackage) {
      const ns: Record<string, unknown> = {};
      for (const [name, def] of macros) {
        Object.defineProperty(ns, name, { enumerable: true, get: () => this.callable(def) });
      }
      const names = pkgName === BUILTIN_PACKAGE ? [BUILTIN_PACKAGE, 'dbt'] : [pkgName];
      for (const n of names) if (!(n in globals)) this.env.addGlobal(n, ns);
    }
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  /** True when no project or package defines `name`: only Kiln's own definition (or none) exists. */
  onlyBuiltin(name: string): boolean {
    return (this.defs.get(name) ?? []).every((d) => d.packageName === BUILTIN_PACKAGE);
  }

  /** The winning definition of `name`, or of `name` in `packageName`. */
  find(name: string, packageName?: string): MacroDef | undefined {
    if (packageName) return this.byPackage.get(packageName)?.get(name);
    return this.defs.get(name)?.[0];
  }

  get(name: string, packageName?: string): ((...args: unknown[]) => unknown) | undefined {
    const def = this.find(name, packageName);
    if (!def) return undefined;
    this.scope.macrosUsed.add(name);
    return this.callable(def);
  }

  allDefinitions(): MacroDef[] {
    return [...this.byPackage.values()].flatMap((m) => [...m.values()]);
  }

  /**
   * adapter.dispatch: for each package in the search order, `<adapter>__name`, then parents', then
   * `default__name`. The search order is the root project then the namespace (or Kiln's built-ins), unless
   * the project file's `dispatch:` gives one.
   */
  dispatch(name: string, namespace?: string, searchOrder?: readonly string[]): (...args: unknown[]) => unknown {
    const configured = searchOrder ? { search_order: [...searchOrder, BUILTIN_PACKAGE] } : this.dispatchConfig.find((d) => d.macro_namespace === namespace);
    // Without a namespace (older packages call adapter.dispatch('x')), every package is searched: the root
    // project first, then installed packages, then Kiln's built-ins.
    const everyPackage = () => [this.rootPackage, ...[...this.byPackage.keys()].filter((p) => p !== this.rootPackage && p !== BUILTIN_PACKAGE).sort(), BUILTIN_PACKAGE];
    const packages = configured?.search_order
      ?? (namespace === undefined ? everyPackage() : [this.rootPackage, ...(namespace !== 'dbt' ? [namespace] : []), BUILTIN_PACKAGE]);
    const prefixes = [...this.adapterPrefixes, 'default'];
    const tried: string[] = [];
    for (const pkg of packages) {
      const realPkg = pkg === 'dbt' ? BUILTIN_PACKAGE : pkg;
      for (const prefix of prefixes) {
        const candidate = `${prefix}__${name}`;
        tried.push(`${pkg}.${candidate}`);
        const fn = this.get(candidate, realPkg);
        if (fn) return fn;
      }
    }
    throw new KilnError('compile', `adapter.dispatch('${name}') found no implementation`, {
      hint: `Looked for: ${tried.slice(0, 12).join(', ')}${tried.length > 12 ? ' …' : ''}. Define one of these macros.`,
    });
  }

  private readonly callables = new Map<MacroDef, (...args: unknown[]) => unknown>();

  /**
   * The macro as a function. Errors passing out of it are marked with the innermost macro they came from,
   * so messages can name the macro file as well as the model line that called it.
   */
  private callable(def: MacroDef): (...args: unknown[]) => unknown {
    const known = this.callables.get(def);
    if (known) return known;
    const exported = this.instantiate(def.file);
    const fn = exported[def.name];
    if (typeof fn !== 'function') {
      throw new KilnError('compile', `macro '${def.name}' could not be loaded`, { location: { file: def.path, line: def.line } });
    }
    const wrapped = function macroWithOrigin(this: unknown, ...args: unknown[]) {
      try {
        return (fn as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        if (e !== null && typeof e === 'object' && !(e as { kilnMacro?: string }).kilnMacro) {
          (e as { kilnMacro?: string }).kilnMacro = `${def.name}' (${def.path}:${def.line})`;
        }
        throw e;
      }
    };
    this.callables.set(def, wrapped);
    return wrapped;
  }

  /** Compile a macro file once and run its top level with a context that follows the render scope. */
  private instantiate(file: MacroFile): Record<string, unknown> {
    const done = this.compiled.get(file);
    if (done) return done;
    let template: nunjucks.Template;
    try {
      template = new nunjucks.Template(preprocessMacroSource(file.content), this.env, file.path, true);
    } catch (e) {
      throw translateTemplateError(e, file.path, 'macro file');
    }
    const fileLocals: Record<string, unknown> = {};
    const scope = this.scope;
    const globals = (this.env as unknown as { globals: Record<string, unknown> }).globals;
    // Names the current node defines win; then sibling definitions, unless a global (an override) exists.
    const proxy = new Proxy(fileLocals, {
      has: (_t, k) => (typeof k === 'string' && k in scope.current) || (k in fileLocals && !(k in globals)),
      get: (_t, k) => (typeof k === 'string' && k in scope.current ? scope.current[k] : fileLocals[k as string]),
      set: (_t, k, v) => {
        fileLocals[k as string] = v;
        return true;
      },
    });
    try {
      runTemplate(this.env, template as unknown as CompiledTemplate, proxy);
    } catch (e) {
      throw translateTemplateError(e, file.path, 'macro file');
    }
    // Running the top level filled fileLocals with every definition (the context's exports would leave out
    // `_private` macros, which dbt packages call across files: dbt_utils._is_relation).
    this.compiled.set(file, fileLocals);
    return fileLocals;
  }
}
