/**
 * Loading a whole project from disk: the project file, its SQL/CSV files, schema YAML, selectors.yml and
 * installed packages' macros. Nothing here touches the warehouse or renders model SQL.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { KilnError } from '../errors.js';
import { Diagnostics } from './diagnostics.js';
import { findFiles, type FoundFile } from './files.js';
import { loadProjectFile, findProjectFile, type ProjectFile } from './projectFile.js';
import { loadSchemaFile, type NodePatch, type SourceTableSpec } from './schemaYaml.js';
import { Vars } from './vars.js';
import { makeEnvVar } from './yamlRender.js';
import { isPlainObject, YamlFile } from './yamlFile.js';

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
  /** Patches keyed `<resourceType>:<name>` (e.g. `models:orders`). */
  patches: Map<string, NodePatch>;
  sources: SourceTableSpec[];
  /** Other top-level schema YAML sections by file (unit_tests, exposures …), for later features. */
  schemaOther: { file: string; data: Record<string, unknown> }[];
  selectorsYaml?: YamlFile;
  vars: Vars;
  cliVars: Record<string, unknown>;
  packageNames: Set<string>;
  diagnostics: Diagnostics;
}

export function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex');
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
}

export function loadProject(opts: LoadOptions): Project {
  const diags = new Diagnostics();
  const cliVars = opts.cliVars ?? {};
  const file = loadProjectFile(opts.projectDir, diags, cliVars);
  const dir = file.dir;
  const packages = findInstalledPackages(dir, file.packagesInstallPath);
  const packageNames = new Set([file.name, ...packages.map((p) => p.name)]);
  const vars = new Vars(cliVars, file.vars, packageNames);

  const macroFiles: MacroFile[] = [];
  for (const pkg of packages) {
    for (const f of findFiles(pkg.dir, pkg.macroPaths, ['.sql'])) {
      const content = readFileSync(f.absPath, 'utf8');
      macroFiles.push({ path: `${file.packagesInstallPath}/${pkg.folder}/${f.path}`, absPath: f.absPath, packageName: pkg.name, content, checksum: checksum(content) });
    }
  }
  // tests/generic/*.sql hold custom generic tests, which are macros ({% test %} blocks).
  const macroRoots = [...file.macroPaths, ...file.testPaths.map((p) => `${p}/generic`)];
  for (const f of findFiles(dir, macroRoots, ['.sql'])) {
    const content = readFileSync(f.absPath, 'utf8');
    macroFiles.push({ path: f.path, absPath: f.absPath, packageName: file.name, content, checksum: checksum(content) });
  }

  const models = readSqlFiles(dir, file.modelPaths, ['.sql'], file.name);
  for (const py of findFiles(dir, file.modelPaths, ['.py'])) {
    diags.warn('Python models are not supported by Kiln; this file is skipped', { file: py.path });
  }
  const seeds = readSqlFiles(dir, file.seedPaths, ['.csv'], file.name);
  const analyses = readSqlFiles(dir, file.analysisPaths, ['.sql'], file.name);
  const snapshots = readSqlFiles(dir, file.snapshotPaths, ['.sql'], file.name);
  const singularTests = readSqlFiles(dir, file.testPaths, ['.sql'], file.name).filter((t) => !t.relPath.startsWith('generic/'));

  const patches = new Map<string, NodePatch>();
  const sources: SourceTableSpec[] = [];
  const schemaOther: Project['schemaOther'] = [];
  const yamlCtx = {
    env_var: makeEnvVar(),
    var: (name: string, fallback?: unknown) => vars.get(name, file.name, fallback, arguments.length > 1 || fallback !== undefined),
  };
  const yamlRoots = [...new Set([...file.modelPaths, ...file.seedPaths, ...file.snapshotPaths, ...file.analysisPaths, ...file.macroPaths, ...file.testPaths])];
  const seenSources = new Map<string, SourceTableSpec>();
  for (const f of findFiles(dir, yamlRoots, ['.yml', '.yaml'])) {
    const yaml = YamlFile.read(f.absPath, f.path);
    const contents = loadSchemaFile(yaml, diags, yamlCtx);
    for (const patch of contents.patches) {
      const key = `${patch.resourceType}:${patch.name}`;
      const prev = patches.get(key);
      if (prev) {
        throw new KilnError('config', `${patch.resourceType.replace(/s$/, '')} '${patch.name}' is described twice`, {
          location: patch.location,
          hint: `It is also described at ${prev.file}:${prev.location.line}. Keep one entry.`,
        });
      }
      patches.set(key, patch);
    }
    for (const src of contents.sources) {
      const key = `${src.sourceName}.${src.name}`;
      const prev = seenSources.get(key);
      if (prev) {
        throw new KilnError('config', `source table '${key}' is defined twice`, {
          location: src.location,
          hint: `It is also defined at ${prev.file}:${prev.location.line}.`,
        });
      }
      seenSources.set(key, src);
      sources.push(src);
    }
    if (Object.keys(contents.other).length) schemaOther.push({ file: f.path, data: contents.other });
  }

  const selectorsPath = join(dir, 'selectors.yml');
  const selectorsYaml = existsSync(selectorsPath) ? YamlFile.read(selectorsPath, 'selectors.yml') : undefined;

  return {
    dir, name: file.name, file, models, seeds, analyses, snapshots, singularTests, macroFiles, patches, sources,
    schemaOther, selectorsYaml, vars, cliVars, packageNames, diagnostics: diags,
  };
}

interface InstalledPackage {
  name: string;
  folder: string;
  dir: string;
  macroPaths: string[];
}

/** Packages installed by `dbt deps` (dbt_packages/<pkg>/dbt_project.yml); their macros are callable. */
function findInstalledPackages(projectDir: string, installPath: string): InstalledPackage[] {
  const root = join(projectDir, installPath);
  if (!existsSync(root)) return [];
  const out: InstalledPackage[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    const pf = findProjectFile(dir);
    if (!pf) continue;
    const yaml = YamlFile.read(join(dir, pf), `${installPath}/${entry.name}/${pf}`);
    const data = isPlainObject(yaml.data) ? yaml.data : {};
    const macroPaths = Array.isArray(data['macro-paths']) ? data['macro-paths'].map(String) : ['macros'];
    out.push({ name: String(data.name ?? entry.name), folder: entry.name, dir, macroPaths });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
