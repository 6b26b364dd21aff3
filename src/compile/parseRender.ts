/**
 * The parse render of one model, shared by the main thread and the parse worker: the renderer set up for
 * parsing, and the serializable entry a render produces (what the parse cache stores).
 */
import type { MacroFile } from '../project/loadProject.js';
import type { Vars } from '../project/vars.js';
import type { NodeIdentity, SharedServices, TargetContext } from './context.js';
import type { ParseEntry } from './parseCache.js';
import { Renderer } from './renderer.js';

export interface ParseRendererSetup {
  macroFiles: readonly MacroFile[];
  rootPackage: string;
  adapterPrefixes: readonly string[];
  dispatch: readonly { macro_namespace: string; search_order: string[] }[];
  target: TargetContext;
  adapterType: string;
  shared: Omit<SharedServices, 'macros' | 'graph' | 'vars' | 'target' | 'projectName' | 'adapterType'>;
}

export function createParseRenderer(setup: ParseRendererSetup, vars: Vars, graph: () => unknown): Renderer {
  return new Renderer(setup.macroFiles, setup.rootPackage, setup.adapterPrefixes, setup.dispatch, (r) => ({
    ...setup.shared,
    vars,
    target: setup.target,
    macros: r.macros,
    projectName: setup.rootPackage,
    adapterType: setup.adapterType,
    graph,
  }));
}

export function renderParseEntry(renderer: Renderer, identity: NodeIdentity): ParseEntry {
  return renderParseRecorded(renderer, identity).entry;
}

/**
 * The entry, whether the render read the node's config (a render that did not holds for any base config),
 * and whether it logged.
 */
export function renderParseRecorded(renderer: Renderer, identity: NodeIdentity): { entry: ParseEntry; configRead: boolean; logged: boolean } {
  const out = renderer.renderParse(identity);
  const entry: ParseEntry = {
    sql: out.sql,
    refs: out.record.refs,
    sources: out.record.sources,
    configCalls: out.record.configCalls,
    placeholders: out.record.placeholders,
    needsExecuteRender: out.record.needsExecuteRender,
    macros: out.macrosUsed,
    varsRead: [...out.record.varsRead],
    envRead: [...out.record.envRead],
    targetRead: out.record.targetRead,
    flagsRead: [...out.record.flagsRead],
    sqlHeader: out.record.sqlHeader,
  };
  return { entry, configRead: out.record.configRead, logged: out.record.logged };
}
