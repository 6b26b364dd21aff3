/**
 * Snapshots (dbt's SCD type 2) as parse nodes. Two ways to define one, as in dbt:
 *
 * - legacy blocks in snapshot-paths: `{% snapshot orders_snapshot %} {{ config(...) }} select … {% endsnapshot %}`
 *   (a file may hold several). Nunjucks has no `snapshot` tag: each block's body is cut out textually and
 *   rendered by the normal parse render (ref, source, var and macros work), with the lines before it kept
 *   blank so template errors point at the right line of the file.
 * - dbt 1.9 YAML: a `snapshots:` entry with `relation: ref('orders')` (or `source('a', 'b')`) and `config:`,
 *   whose SQL is `select * from {{ <relation> }}` (what dbt generates).
 *
 * Configs merge as for models: defaults < project file `snapshots:` tree < schema YAML < config() in the body.
 * The node is a SqlNode with resourceType 'snapshot' and unique id `snapshot.<package>.<name>`, ref-able like
 * a model. {@link snapshotSpec} turns its config into what the executor needs, or a KilnError naming the file
 * and line and what to do.
 */
import { KilnError, resolveLocation, type SourceLocation } from '../errors.js';
import type { Diagnostics } from '../project/diagnostics.js';
import { checksum, patchKey, type Project } from '../project/loadProject.js';
import { mergeConfig, type NodeConfig } from '../project/nodeConfig.js';
import type { SqlNode } from '../project/nodes.js';
import type { NodePatch } from '../project/schemaYaml.js';

export const SNAPSHOT_DEFAULTS: NodeConfig = {
  enabled: true, materialized: 'snapshot', tags: [], 'pre-hook': [], 'post-hook': [], persist_docs: {}, quoting: {},
  column_types: {}, meta: {}, docs: { show: true }, grants: {}, packages: [], alias: null, schema: null, database: null,
  unique_key: null, strategy: null, target_schema: null, target_database: null, updated_at: null, check_cols: null,
};

/** A snapshot node before its parse render, in the shape parse.ts keeps pending nodes. */
export interface SnapshotPending {
  node: SqlNode;
  baseConfig: NodeConfig;
  patchMeta: Record<string, unknown>;
}

export interface SnapshotNodeContext {
  project: Project;
  target: { schema: string; database?: string };
  /** The project file `snapshots:` tree (package's own, then the root project's) for an fqn. */
  treeConfig(pkg: string, fqn: string[]): NodeConfig;
  diags: Diagnostics;
}

const OPEN = /\{%(-?)\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*(-?)%\}/g;
const CLOSE = /\{%-?\s*endsnapshot\s*-?%\}/g;

/** One `{% snapshot %}` block of a file: its name, the line of its tag, and the body with earlier lines blanked. */
export interface SnapshotBlock {
  name: string;
  line: number;
  rawCode: string;
}

const lineAt = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** The snapshot blocks of a file, in order. Unclosed or nested blocks are errors at their line. */
export function snapshotBlocks(content: string, file: string): SnapshotBlock[] {
  const out: SnapshotBlock[] = [];
  OPEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  let from = 0;
  while ((m = OPEN.exec(content))) {
    if (m.index < from) continue;
    const line = lineAt(content, m.index);
    const bodyStart = m.index + m[0].length;
    CLOSE.lastIndex = bodyStart;
    const close = CLOSE.exec(content);
    const nextOpen = new RegExp(OPEN.source, 'g');
    nextOpen.lastIndex = bodyStart;
    const inner = nextOpen.exec(content);
    if (!close || (inner && inner.index < close.index)) {
      throw new KilnError('config', `snapshot block '${m[2]}' has no {% endsnapshot %}`, {
        location: { file, line },
        hint: 'Close each {% snapshot name %} block with {% endsnapshot %} before the next one starts.',
      });
    }
    const body = content.slice(bodyStart, close.index);
    // Blank out everything before the body (keeping newlines) so errors count lines as in the file.
    const rawCode = content.slice(0, bodyStart).replace(/[^\n]/g, '') + body;
    out.push({ name: m[2], line, rawCode });
    from = close.index + close[0].length;
    OPEN.lastIndex = from;
  }
  return out;
}

/** Snapshot nodes of every snapshot file and YAML-defined snapshot, ready for the parse render. */
export function snapshotSkeletons(ctx: SnapshotNodeContext): SnapshotPending[] {
  const { project } = ctx;
  const out: SnapshotPending[] = [];
  const seen = new Map<string, string>();
  const claim = (pkg: string, name: string, where: string, location: SourceLocation) => {
    const key = `${pkg}.${name}`;
    const prev = seen.get(key);
    if (prev) {
      throw new KilnError('config', `two snapshots are named '${name}': ${prev} and ${where}`, {
        location, hint: 'Snapshot names must be unique in a project; rename one of them.',
      });
    }
    seen.set(key, where);
  };

  const make = (opts: {
    name: string; pkg: string; fqn: string[]; path: string; originalFilePath: string; rawCode: string;
    location: SourceLocation; patch?: NodePatch; patchConfig?: NodeConfig;
  }): SnapshotPending => {
    const patch = opts.patch;
    const baseConfig = mergeConfig(mergeConfig(SNAPSHOT_DEFAULTS, ctx.treeConfig(opts.pkg, opts.fqn)), patch?.config ?? {});
    const node: SqlNode = {
      uniqueId: `snapshot.${opts.pkg}.${opts.name}`, resourceType: 'snapshot', name: opts.name, packageName: opts.pkg,
      path: opts.path, originalFilePath: opts.originalFilePath, fqn: opts.fqn, description: patch?.description ?? '',
      columns: patch?.columns ?? [], meta: {}, tags: [], config: baseConfig, patchPath: patch?.file, patchLocation: patch?.location,
      relation: { schema: ctx.target.schema, identifier: opts.name, database: ctx.target.database },
      rawCode: opts.rawCode, checksum: checksum(opts.rawCode), refs: [], sources: [], macros: [], dependsOn: [], parsedSql: '',
      placeholders: [], needsExecuteRender: false, declaredAt: opts.location,
    };
    return { node, baseConfig, patchMeta: patch?.meta ?? {} };
  };

  for (const file of project.snapshots) {
    const blocks = snapshotBlocks(file.content, file.path);
    if (blocks.length === 0) {
      if (file.content.trim() && file.packageName === project.name) {
        ctx.diags.warn('this file in a snapshot path has no {% snapshot %} block; it is skipped', { file: file.path },
          'Wrap the SELECT in {% snapshot <name> %} … {% endsnapshot %}, or define the snapshot in YAML with relation: and config:.');
      }
      continue;
    }
    for (const b of blocks) {
      const location = { file: file.path, line: b.line };
      claim(file.packageName, b.name, `${file.path}:${b.line}`, location);
      out.push(make({
        name: b.name, pkg: file.packageName, fqn: [...file.fqn, b.name], path: file.relPath, originalFilePath: file.path,
        rawCode: b.rawCode, location, patch: project.patches.get(patchKey('snapshots', file.packageName, b.name)),
      }));
    }
  }

  // dbt 1.9: `snapshots:` entries in YAML with `relation:` define the snapshot themselves.
  for (const [key, patch] of project.patches) {
    if (patch.resourceType !== 'snapshots' || patch.extra.relation === undefined) continue;
    const pkg = key.split(':')[1];
    const relation = patch.extra.relation;
    if (typeof relation !== 'string' || !/^\s*(ref|source)\s*\(/.test(relation)) {
      throw new KilnError('config', `snapshot '${patch.name}': relation must be ref('…') or source('…', '…')`, {
        location: patch.location,
        hint: "Write e.g. relation: ref('orders') or relation: source('shop', 'orders').",
      });
    }
    if (seen.has(`${pkg}.${patch.name}`)) {
      throw new KilnError('config', `snapshot '${patch.name}' is defined both in YAML (relation:) and in ${seen.get(`${pkg}.${patch.name}`)}`, {
        location: patch.location, hint: 'Keep one definition: remove relation: from the YAML entry, or the {% snapshot %} block.',
      });
    }
    claim(pkg, patch.name, `${patch.file}:${resolveLocation(patch.location).line ?? 1}`, patch.location);
    const folders = pkg === project.name ? patch.file.split('/').slice(1, -1) : [];
    out.push(make({
      // path names its compiled file, in a folder named after the YAML file (as for the YAML's generic tests).
      name: patch.name, pkg, fqn: [pkg, ...folders, patch.name], path: `${patch.name}.sql`,
      originalFilePath: patch.file, rawCode: `select * from {{ ${relation.trim()} }}`, location: patch.location, patch,
    }));
  }
  return out;
}

export type HardDeletes = 'ignore' | 'invalidate' | 'new_record';

/** The meta column names (snapshot_meta_column_names over dbt's defaults). */
export interface SnapshotColumnNames {
  dbt_valid_from: string;
  dbt_valid_to: string;
  dbt_scd_id: string;
  dbt_updated_at: string;
  dbt_is_deleted: string;
}

/** A snapshot's configuration, checked and normalised. */
export interface SnapshotSpec {
  strategy: 'timestamp' | 'check';
  /** Key columns or expressions (one, or several for a composite key); `uniqueKeyIsList` as configured. */
  uniqueKey: string[];
  uniqueKeyIsList: boolean;
  /** Column (or expression) with the row's last change time; for `check`, optional. */
  updatedAt?: string;
  /** `check`: the columns to compare, or 'all'. */
  checkCols?: string[] | 'all';
  hardDeletes: HardDeletes;
  /** SQL expression current rows get in dbt_valid_to instead of null. */
  validToCurrent?: string;
  columns: SnapshotColumnNames;
}

export const DEFAULT_COLUMN_NAMES: SnapshotColumnNames = {
  dbt_valid_from: 'dbt_valid_from', dbt_valid_to: 'dbt_valid_to', dbt_scd_id: 'dbt_scd_id',
  dbt_updated_at: 'dbt_updated_at', dbt_is_deleted: 'dbt_is_deleted',
};

/** Check a snapshot's config as dbt does at parse time; errors name the file and line and what to set. */
export function snapshotSpec(node: SqlNode): SnapshotSpec {
  const c = node.config;
  const location = node.declaredAt ?? { file: node.originalFilePath };
  const fail = (message: string, hint: string): never => {
    throw new KilnError('config', `snapshot '${node.name}': ${message}`, { location, node: node.uniqueId, hint });
  };
  const yamlDefined = node.originalFilePath === node.patchPath && /\.ya?ml$/.test(node.originalFilePath);
  const where = yamlDefined ? 'under config: in its YAML entry' : 'in its config() call (or the YAML entry or project file)';
  const strategy = c.strategy;
  const uniqueKey = c.unique_key;
  if (strategy === null || strategy === undefined || strategy === '') {
    fail('no strategy is configured', `Set strategy='timestamp' (with updated_at) or strategy='check' (with check_cols) ${where}.`);
  }
  if (strategy !== 'timestamp' && strategy !== 'check') {
    fail(`strategy '${String(strategy)}' is not supported`, "Use strategy 'timestamp' (with updated_at) or 'check' (with check_cols); custom strategy macros are not supported by Kiln.");
  }
  const emptyKey = uniqueKey === null || uniqueKey === undefined || uniqueKey === '' || (Array.isArray(uniqueKey) && uniqueKey.length === 0);
  if (emptyKey) {
    fail('no unique_key is configured', `Set unique_key to the column (or list of columns) that identifies a row of the source ${where}, e.g. unique_key='id'.`);
  }
  const keyList = (Array.isArray(uniqueKey) ? uniqueKey : [uniqueKey]).map((k) => String(k).trim());
  if (keyList.some((k) => !k)) fail('unique_key has an empty entry', 'List the key columns by name, e.g. unique_key=[\'order_id\', \'line_no\'].');
  const updatedAt = c.updated_at === null || c.updated_at === undefined || c.updated_at === '' ? undefined : String(c.updated_at);
  const checkColsRaw = c.check_cols;
  const hasCheckCols = checkColsRaw !== null && checkColsRaw !== undefined && !(Array.isArray(checkColsRaw) && checkColsRaw.length === 0) && checkColsRaw !== '';
  let checkCols: string[] | 'all' | undefined;
  if (strategy === 'timestamp') {
    if (!updatedAt) fail("the timestamp strategy needs updated_at", `Set updated_at to the column holding each row's last change time ${where}, or use strategy='check' with check_cols.`);
    if (hasCheckCols) fail("check_cols is set, but the timestamp strategy does not use it", "Remove check_cols, or use strategy='check' to compare those columns.");
  } else {
    if (!hasCheckCols) fail("the check strategy needs check_cols", `Set check_cols to a list of columns to compare, or 'all' ${where}.`);
    if (typeof checkColsRaw === 'string') {
      if (checkColsRaw !== 'all') fail(`check_cols is '${checkColsRaw}'`, "check_cols must be 'all' or a list of column names, e.g. check_cols=['status'].");
      checkCols = 'all';
    } else if (Array.isArray(checkColsRaw)) {
      checkCols = checkColsRaw.map((x) => String(x));
    } else {
      fail('check_cols must be a list of column names or \'all\'', "e.g. check_cols=['status', 'amount'] or check_cols='all'.");
    }
  }
  const inv = c.invalidate_hard_deletes;
  const hd = c.hard_deletes;
  if (hd !== undefined && hd !== null && !['ignore', 'invalidate', 'new_record'].includes(String(hd))) {
    fail(`hard_deletes is '${String(hd)}'`, "hard_deletes must be 'ignore', 'invalidate' or 'new_record'.");
  }
  if (inv === true && hd !== undefined && hd !== null && hd !== 'invalidate') {
    fail('both invalidate_hard_deletes and hard_deletes are set', "Keep only hard_deletes (invalidate_hard_deletes: true is the older spelling of hard_deletes: 'invalidate').");
  }
  const hardDeletes: HardDeletes = inv === true || hd === 'invalidate' ? 'invalidate' : hd === 'new_record' ? 'new_record' : 'ignore';
  const names = c.snapshot_meta_column_names;
  const columns = { ...DEFAULT_COLUMN_NAMES };
  if (names !== null && names !== undefined) {
    if (typeof names !== 'object' || Array.isArray(names)) fail('snapshot_meta_column_names must be a mapping', 'e.g. snapshot_meta_column_names: {dbt_valid_from: start_date, dbt_valid_to: end_date}.');
    for (const [k, v] of Object.entries(names as Record<string, unknown>)) {
      if (!(k in columns)) fail(`snapshot_meta_column_names has an unknown key '${k}'`, `The keys are ${Object.keys(columns).join(', ')}.`);
      if (typeof v !== 'string' || !v.trim()) fail(`snapshot_meta_column_names.${k} must be a column name`, 'Give each renamed meta column a non-empty name.');
      columns[k as keyof SnapshotColumnNames] = (v as string).trim();
    }
  }
  const vtc = c.dbt_valid_to_current;
  const validToCurrent = vtc === null || vtc === undefined || vtc === '' ? undefined : String(vtc).trim();
  return {
    strategy: strategy as 'timestamp' | 'check', uniqueKey: keyList, uniqueKeyIsList: Array.isArray(uniqueKey),
    updatedAt, checkCols, hardDeletes, validToCurrent, columns,
  };
}

/**
 * The relation a snapshot builds: legacy target_schema/target_database are used as written (no
 * generate_schema_name), over what the naming macros gave for schema/database.
 */
export function applyLegacyTarget(node: SqlNode): void {
  const { target_schema: schema, target_database: database } = node.config;
  if (typeof schema === 'string' && schema.trim()) node.relation = { ...node.relation, schema: schema.trim() };
  if (typeof database === 'string' && database.trim()) node.relation = { ...node.relation, database: database.trim() };
}

/** For the "described in YAML but has no file" check: every snapshot name a package defines. */
export function snapshotNames(pending: readonly { node: SqlNode }[], pkg: string): string[] {
  return pending.filter((p) => p.node.resourceType === 'snapshot' && p.node.packageName === pkg).map((p) => p.node.name);
}

