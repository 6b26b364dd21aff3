/**
 * Nunjucks internals Kiln needs but the package does not export: the Context and Frame classes, to run a
 * compiled template with a context object that follows the render scope instead of a copy of it.
 */
import nunjucks from 'nunjucks';

export interface NunjucksContext {
  ctx: object;
  getExported(): Record<string, unknown>;
}
export type ContextClass = new (ctx: object, blocks: object, env: nunjucks.Environment) => NunjucksContext;
export type FrameClass = new () => { topLevel: boolean };

export interface CompiledTemplate {
  blocks: object;
  rootRenderFunc: (env: nunjucks.Environment, ctx: object, frame: object, runtime: unknown, cb: (err: unknown, out?: string) => void) => void;
}

/** Globals are called with the render Context as `this`; one tiny render hands us its class. */
function discoverContextClass(): ContextClass {
  const env = new nunjucks.Environment(null);
  let found: ContextClass | undefined;
  env.addGlobal('__kiln_context_class', function (this: { constructor: ContextClass }) {
    found = this.constructor;
    return '';
  });
  env.renderString('{{ __kiln_context_class() }}', {});
  if (!found) throw new Error('internal: cannot find the Nunjucks Context class');
  return found;
}

export const Context: ContextClass = discoverContextClass();
export const Frame: FrameClass = (nunjucks.runtime as unknown as { Frame: FrameClass }).Frame;

/** Run a compiled template's top level with `context`; returns its output or throws its error. */
export function runTemplate(env: nunjucks.Environment, t: CompiledTemplate, ctx: object): { output: string; context: NunjucksContext } {
  const context = new Context({}, t.blocks, env);
  context.ctx = ctx;
  const frame = new Frame();
  frame.topLevel = true;
  let output = '';
  let error: unknown;
  t.rootRenderFunc(env, context, frame, nunjucks.runtime, (err, res) => {
    error = err;
    output = res ?? '';
  });
  if (error) throw error;
  return { output, context };
}
