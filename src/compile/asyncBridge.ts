/**
 * Synchronous templates, asynchronous warehouses. Nunjucks renders synchronously, but `run_query`,
 * `adapter.get_relation` and statement blocks need the warehouse. A call whose answer is not known yet
 * throws {@link NeedAsync}; the renderer awaits the work, stores the answer under the call's position in
 * the render, and renders again. Templates are deterministic given the same answers, so the k-th call of
 * the next attempt is the same call and finds its answer. Renders that touch the warehouse once or twice
 * (the usual case) cost one or two extra renders.
 */
export class NeedAsync extends Error {
  constructor() {
    super('internal: waiting for the warehouse');
  }
}

export class AsyncBridge {
  private readonly answers = new Map<string, unknown>();
  private pending: { key: string; work: () => Promise<unknown> } | undefined;
  private seq = 0;
  /** Side effects (log lines) already emitted by earlier attempts, so a re-render does not repeat them. */
  private effectsDone = 0;
  private effectSeq = 0;

  /** Answer for this call position, or throw NeedAsync after scheduling `work`. */
  call<T>(label: string, work: () => Promise<T>): T {
    const key = `${this.seq++}\0${label}`;
    if (this.answers.has(key)) return this.answers.get(key) as T;
    this.pending = { key, work };
    throw new NeedAsync();
  }

  /** Run a side effect once across attempts (the n-th effect of each attempt is the same effect). */
  once(effect: () => void): void {
    if (this.effectSeq++ >= this.effectsDone) {
      this.effectsDone++;
      effect();
    }
  }

  /** Render with retries until every warehouse call has its answer. */
  async run<T>(render: () => T): Promise<T> {
    for (let attempt = 0; attempt < 100000; attempt++) {
      this.seq = 0;
      this.effectSeq = 0;
      this.pending = undefined;
      try {
        return render();
      } catch (e) {
        const pending = this.pending as { key: string; work: () => Promise<unknown> } | undefined;
        if (!pending) throw e;
        this.pending = undefined;
        this.answers.set(pending.key, await pending.work());
      }
    }
    throw new Error('internal: template asked the warehouse too many times');
  }

  /** Render once with no warehouse available (parse phase): a warehouse call is a bug there. */
  runSync<T>(render: () => T): T {
    this.seq = 0;
    this.effectSeq = 0;
    return render();
  }
}
