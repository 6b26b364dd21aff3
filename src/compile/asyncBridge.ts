/**
 * Synchronous templates, asynchronous warehouses. Nunjucks renders synchronously, but `run_query`,
 * `adapter.get_relation` and statement blocks need the warehouse. A call whose answer is not known yet
 * throws {@link NeedAsync}; the renderer awaits the work, stores the answer under the call's position in
 * the render, and renders again. Templates are deterministic given the same answers, so the k-th call of
 * the next attempt is the same call and finds its answer. Answers are keyed by position, not by SQL text:
 * a statement whose text changes between attempts (it embeds now()) still runs once. Renders that touch
 * the warehouse once or twice (the usual case) cost one or two extra renders.
 */
export class NeedAsync extends Error {
  constructor() {
    super('internal: waiting for the warehouse');
  }
}

export class AsyncBridge {
  private readonly answers: { label: string; value: unknown }[] = [];
  private pending: { position: number; label: string; work: () => Promise<unknown> } | undefined;
  private seq = 0;
  /** Side effects (log lines) already emitted by earlier attempts, so a re-render does not repeat them. */
  private effectsDone = 0;
  private effectSeq = 0;

  /** Answer for this call position, or throw NeedAsync after scheduling `work`. */
  call<T>(label: string, work: () => Promise<T>): T {
    const position = this.seq++;
    const known = this.answers[position];
    if (known) {
      if (known.label !== label) {
        throw new Error(`the template's warehouse calls changed between renders (${known.label} became ${label}); ` +
          'make the calls it makes depend only on earlier answers, not on time or randomness');
      }
      return known.value as T;
    }
    this.pending = { position, label, work };
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
        const pending = this.pending as { position: number; label: string; work: () => Promise<unknown> } | undefined;
        if (!pending) throw e;
        this.pending = undefined;
        this.answers[pending.position] = { label: pending.label, value: await pending.work() };
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
