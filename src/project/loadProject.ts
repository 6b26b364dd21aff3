/**
 * Loading a whole project from disk: the project file, its SQL/CSV files, schema YAML, selectors.yml and
 * installed packages' macros. Nothing here touches the warehouse or renders model SQL.
 */
import { hash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { KilnError, resolveLocation } from '../errors.js';
import { Diagnostics } from './diagnostics.js';
import { findFiles, type FoundFile } from './files.js';
import { loadProjectFile, findProjectFile, type ProjectFile } from './projectFile.js';
import { SchemaCache } from './schemaCache.js';
import { loadSchemaFile, type NodePatch, type SchemaFileContents, type SourceTableSpec } from './schemaYaml.js';
import { Vars } from './vars.js';
import { makeEnvVar, type YamlRenderContext } from './yamlRender.js';
import { YamlFile } from './yamlFile.js';

export interface SqlFile extends FoundFile {
  name: string;
  packageName: string;
  /** [package, ...folders, name] — dbt's fully qualified name. */
  fqn: string[];
  content: string;
  checksum: string;
}

export interface MacroFile {
  path: string;
  absPath: string;
  packageName: string;
  content: string;
  checksum: string;
}

export interface Project {
  dir: string;
  name: string;
  file: ProjectFile;
  models: SqlFile[];
  seeds: SqlFile[];
  analyses: SqlFile[];
  snapshots: SqlFile[];
  singularTests: SqlFile[];
  macroFiles: MacroFile[];
  /**
   * Patches keyed `<resourceType>:<name>` (e.g. `models:orders`). This and `sources` and `schemaOther`
   * interpret the schema YAML on first read, so YAML errors are thrown then.
   */
  patches: Map<string, NodePatch>;
  sources: SourceTableSpec[];
  /** Other top-level schema YAML sections by file (unit_tests, exposures …), for later features. */
  schemaOther: { file: string; data: Record<string, unknown> }[];
  selectorsYaml?: YamlFile;
  /** Every schema YAML file read, with its content hash (the parse snapshot is keyed by them). */
  schemaFiles: { path: string; checksum: string }[];
  vars: Vars;
  cliVars: Record<string, unknown>;
  packageNames: Set<string>;
  /** Project files of the root project and of each installed package, by package name. */
  packageFiles: Map<string, ProjectFile>;
  diagnostics: Diagnostics;
}

export function checksum(text: string): string {
  return hash('sha256', text, 'hex');
}

function readSqlFiles(dir: string, roots: string[], exts: string[], packageName: string, withFolders = true): SqlFile[] {
  return findFiles(dir, roots, exts).map((f) => {
    const content = readFileSync(f.absPath, 'utf8');
    const ext = exts.find((e) => f.relPath.endsWith(e)) ?? '';
    const name = basename(f.relPath, ext);
    const folders = f.relPath.split('/').slice(0, -1);
    return { ...f, name, packageName, fqn: [packageName, ...(withFolders ? folders : []), name], content, checksum: checksum(content) };
  });
}

export interface LoadOptions {
  projectDir: string;
  cliVars?: Record<string, unknown>;
  /** Reuse parsed schema YAML from target/ (off with --no-partial-parse). */
  useCache?: boolean;
  /** The `target` variable for Jinja in YAML (`schema: "{{ target.schema }}_raw"`). */
  target?: Record<string, unknown>;
}

/** Key of a schema YAML patch: resource section, package and name (`models:shop:orders`). */
export function patchKey(resourceType: string, packageName: string, name: string): string {
  return `${resourceType}:${packageName}:${name}`;
}

/** The root project or an installed package, with where its files are and how messages name them. */
interface PackageRoot {
  name: string;
  dir: string;
  /** Prefix that makes a path inside the package relative to the root project (`dbt_packages/utils/`). */
  prefix: string;
  file: ProjectFile;
  isRoot: boolean;
}

export function loadProject(opts: LoadOptions): Project {
  const diags = new Diagnostics();
  const cliVars = opts.cliVars ?? {};
  const file = loadProjectFile(opts.projectDir, diags, cliVars, opts.target);
  const dir = file.dir;
  const roots: PackageRoot[] = [
    ...findInstalledPackages(dir, file.packagesInstallPath, cliVars),
    { name: file.name, dir, prefix: '', file, isRoot: true },
  ];
  const packageNames = new Set(roots.map((p) => p.name));
  const packageVars = new Map(roots.filter((p) => !p.isRoot).map((p) => [p.name, p.file.vars]));
  const vars = new Vars(cliVars, file.vars, packageNames, packageVars);

  const out = {
    macroFiles: [] as MacroFile[], models: [] as SqlFile[], seeds: [] as SqlFile[], analyses: [] as SqlFile[],
    snapshots: [] as SqlFile[], singularTests: [] as SqlFile[],
  };
  const schemaFiles: Project['schemaFiles'] = [];
  const yamlFiles: { file: FoundFile; pkg: PackageRoot; diags: Diagnostics; ctx: YamlRenderContext; text: string; checksum: string }[] = [];

  for (const pkg of roots) {
    const pf = pkg.file;
    const prefixed = <T extends { path: string }>(files: T[]): T[] => (pkg.prefix ? files.map((f) => ({ ...f, path: pkg.prefix + f.path })) : files);
    // tests/generic/*.sql hold custom generic tests, which are macros ({% test %} blocks).
    const macroRoots = [...pf.macroPaths, ...pf.testPaths.map((p) => `${p}/generic`)];
    for (const f of findFiles(pkg.dir, macroRoots, ['.sql'])) {
      const content = readFileSync(f.absPath, 'utf8');
      out.macroFiles.push({ path: pkg.prefix + f.path, absPath: f.absPath, packageName: pkg.name, content, checksum: checksum(content) });
    }
    out.models.push(...prefixed(readSqlFiles(pkg.dir, pf.modelPaths, ['.sql'], pkg.name)));
    if (pkg.isRoot) {
      for (const py of findFiles(pkg.dir, pf.modelPaths, ['.py'])) {
        diags.warn('Python models are not supported by Kiln; this file is skipped', { file: py.path });
      }
    }
    out.seeds.push(...prefixed(readSqlFiles(pkg.dir, pf.seedPaths, ['.csv'], pkg.name)));
    out.analyses.push(...prefixed(readSqlFiles(pkg.dir, pf.analysisPaths, ['.sql'], pkg.name)));
    out.snapshots.push(...prefixed(readSqlFiles(pkg.dir, pf.snapshotPaths, ['.sql'], pkg.name)));
    if (pkg.isRoot) {
      out.singularTests.push(...readSqlFiles(pkg.dir, pf.testPaths, ['.sql'], pkg.name).filter((t) => !t.relPath.startsWith('generic/') && !t.relPath.startsWith('fixtures/')));
    }

    // Warnings are for the user's own files; a package's YAML is not theirs to fix.
    const pkgDiags = pkg.isRoot ? diags : new Diagnostics();
    const yamlCtx = {
      env_var: makeEnvVar(),
      var: (name: string, ...rest: unknown[]) => vars.get(name, pkg.name, rest[0], rest.length > 0),
      target: opts.target,
    };
    const yamlRoots = [...new Set([...pf.modelPaths, ...pf.seedPaths, ...pf.snapshotPaths, ...pf.analysisPaths, ...pf.macroPaths, ...pf.testPaths])];
    for (const f of findFiles(pkg.dir, yamlRoots, ['.yml', '.yaml'])) {
      const text = readFileSync(f.absPath, 'utf8');
      const sum = checksum(text);
      schemaFiles.push({ path: pkg.prefix + f.path, checksum: sum });
      yamlFiles.push({ file: f, pkg, diags: pkgDiags, ctx: yamlCtx, text, checksum: sum });
    }
  }

  // Schema YAML is read above (its checksums key the parse snapshot) but interpreted on first use: a run
  // restored from the snapshot never needs it.
  let schema: Pick<Project, 'patches' | 'sources' | 'schemaOther'> | undefined;
  const interpretSchemaYaml = () => {
    if (schema) return schema;
    const patches = new Map<string, NodePatch>();
    const sources: SourceTableSpec[] = [];
    const schemaOther: Project['schemaOther'] = [];
    const seenSources = new Map<string, SourceTableSpec>();
    const schemaCache = opts.useCache ? SchemaCache.open(join(dir, file.targetPath, 'kiln_yaml_cache.json')) : undefined;
    for (const { file: f, pkg, diags: pkgDiags, ctx, text, checksum: sum } of yamlFiles) {
      const contents = readSchemaFile(text, sum, { display: pkg.prefix + f.path, absPath: f.absPath }, pkgDiags, ctx, schemaCache);
      for (const patch of contents.patches) {
        const key = patchKey(patch.resourceType, pkg.name, patch.name);
        const prev = patches.get(key);
        if (prev) {
          throw new KilnError('config', `${patch.resourceType.replace(/s$/, '')} '${patch.name}' is described twice`, {
            location: patch.location,
            hint: `It is also described at ${prev.file}:${resolveLocation(prev.location).line}. Keep one entry.`,
          });
        }
        patches.set(key, patch);
      }
      for (const src of contents.sources) {
        src.packageName = pkg.name;
        src.folders = f.relPath.split('/').slice(0, -1);
        const key = `${pkg.name}.${src.sourceName}.${src.name}`;
        const prev = seenSources.get(key);
        if (prev) {
          throw new KilnError('config', `source table '${src.sourceName}.${src.name}' is defined twice`, {
            location: src.location,
            hint: `It is also defined at ${prev.file}:${resolveLocation(prev.location).line}.`,
          });
        }
        seenSources.set(key, src);
        sources.push(src);
      }
      if (Object.keys(contents.other).length) schemaOther.push({ file: pkg.prefix + f.path, data: contents.other });
    }
    schemaCache?.save();
    return (schema = { patches, sources, schemaOther });
  };
  const selectorsPath = join(dir, 'selectors.yml');
  const selectorsYaml = existsSync(selectorsPath) ? YamlFile.read(selectorsPath, 'selectors.yml') : undefined;

  return {
    dir, name: file.name, file, ...out, selectorsYaml, schemaFiles, vars, cliVars, packageNames,
    get patches() {
      return interpretSchemaYaml().patches;
    },
    get sources() {
      return interpretSchemaYaml().sources;
    },
    get schemaOther() {
      return interpretSchemaYaml().schemaOther;
    },
    packageFiles: new Map(roots.map((p) => [p.name, p.file])), diagnostics: diags,
  };
}

/** Parse one schema YAML file, or take its result (and replay its warnings) from the cache. */
function readSchemaFile(
  text: string, sum: string, { display, absPath }: { display: string; absPath: string }, diags: Diagnostics, ctx: YamlRenderContext, cache: SchemaCache | undefined,
): SchemaFileContents {
  const canCache = cache !== undefined && SchemaCache.cacheable(text);
  const hit = canCache ? cache.get(display, absPath, sum) : undefined;
  if (hit) {
    for (const w of hit.warnings) diags.warnings.push(w);
    return hit.contents;
  }
  const local = new Diagnostics();
  const contents = loadSchemaFile(YamlFile.parse(text, display, absPath), local, ctx);
  diags.warnings.push(...local.warnings);
  if (canCache) cache.set(display, { checksum: sum, contents, warnings: local.warnings });
  return contents;
}

/** Packages installed by `dbt deps` (dbt_packages/<pkg>/dbt_project.yml): their models, seeds and macros. */
function findInstalledPackages(projectDir: string, installPath: string, cliVars: Record<string, unknown>): PackageRoot[] {
  const root = join(projectDir, installPath);
  if (!existsSync(root)) return [];
  const out: PackageRoot[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    if (!findProjectFile(dir)) continue;
    const file = loadProjectFile(dir, new Diagnostics(), cliVars);
    // Messages name package files from the root project (dbt_packages/utils/macros/x.sql).
    file.file = `${installPath}/${entry.name}/${file.file}`;
    out.push({ name: file.name, dir, prefix: `${installPath}/${entry.name}/`, file, isRoot: false });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
