/**
 * A partial parse: the nodes of the parse snapshot, with the model and analysis files that changed since
 * made again — rendered, configured and named exactly as a whole parse makes them (modelNodes.ts). Only
 * an edit that keeps the project's shape qualifies; anything else (a file that now disables its model, a
 * versioned model, an unknown node) answers undefined and the caller parses the whole project.
 */
import { contractSpec } from '../project/contracts.js';
import type { SqlFile } from '../project/loadProject.js';
import type { GraphNode, SqlNode } from '../project/nodes.js';
import {
  applyParseEntry, buildsRelation, builtinRelation, macroRelation, namingIsBuiltin, ProjectConfigs, relationClashError, relationKey,
} from './modelNodes.js';
import { nodeIdentity, targetContext, type ParsedProject } from './parse.js';
import { renderParseEntry } from './parseRender.js';

/**
 * Make the nodes of `files` again over `parsed` (restored from the snapshot); returns them, not yet in
 * `parsed.nodes`, with dependsOn still to resolve, and the flags their renders read — or undefined when only
 * a whole parse can tell.
 */
export function reparseFiles(parsed: ParsedProject, adapterPrefixes: readonly string[], files: readonly SqlFile[]): { nodes: SqlNode[]; flagsRead: string[] } | undefined {
  const { project, target, renderer } = parsed;
  const configs = new ProjectConfigs(project, target, targetContext(target));
  const nativeNaming = namingIsBuiltin(renderer, adapterPrefixes);
  const models = new Set(project.models);
  const out: SqlNode[] = [];
  const flagsRead: string[] = [];
  for (const file of files) {
    const resourceType = models.has(file) ? 'model' : 'analysis';
    if (configs.versionedFiles.has(`${file.packageName}:${file.name}`)) return undefined;
    const pending = configs.skeleton(file, resourceType);
    const node = pending.node;
    const old = parsed.nodes.get(node.uniqueId);
    if (!old || old.resourceType !== resourceType) return undefined;
    const entry = renderParseEntry(renderer, { ...nodeIdentity(node), baseConfig: pending.baseConfig });
    flagsRead.push(...entry.flagsRead);
    applyParseEntry(pending, entry);
    // Disabling a model detaches its tests and may break refs: the whole parse decides that.
    if (node.config.enabled === false) return undefined;
    if (resourceType === 'model') contractSpec(node);
    if (nativeNaming) {
      node.relation = builtinRelation(node, target);
    } else {
      const named = macroRelation(renderer, node, nodeIdentity(node));
      node.relation = named.relation;
      flagsRead.push(...named.flagsRead);
    }
    out.push(node);
  }
  checkRelationClashes(parsed.nodes, out);
  return { nodes: out, flagsRead };
}

/** Two nodes must not build the same relation: the changed ones against every other. */
function checkRelationClashes(nodes: ReadonlyMap<string, GraphNode>, changed: readonly SqlNode[]): void {
  const changedIds = new Set(changed.map((n) => n.uniqueId));
  const owners = new Map<string, GraphNode>();
  for (const n of nodes.values()) if (!changedIds.has(n.uniqueId) && buildsRelation(n)) owners.set(relationKey(n), n);
  for (const n of changed) {
    if (!buildsRelation(n)) continue;
    const other = owners.get(relationKey(n));
    if (other) throw relationClashError(n, other);
    owners.set(relationKey(n), n);
  }
}
