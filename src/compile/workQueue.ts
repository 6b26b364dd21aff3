/**
 * A list of jobs two threads take from, one at a time, through a counter in shared memory: whichever thread
 * is free takes the next job, so neither waits while the other still has a fixed share left.
 *
 * @example
 *   const queue = WorkQueue.create(items.length);   // main thread
 *   worker.postMessage({ items, queue: queue.buffer });
 *   for (let i = queue.take(); i !== undefined; i = queue.take()) render(items[i]);
 *   // the worker does the same over WorkQueue.of(buffer, items.length)
 */
export class WorkQueue {
  private readonly next: Int32Array;

  private constructor(readonly buffer: SharedArrayBuffer, readonly size: number) {
    this.next = new Int32Array(buffer);
  }

  static create(size: number): WorkQueue {
    return new WorkQueue(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT), size);
  }

  /** The same queue on another thread (the buffer was posted to it). */
  static of(buffer: SharedArrayBuffer, size: number): WorkQueue {
    return new WorkQueue(buffer, size);
  }

  /** The index of the next job nobody has taken, or undefined when all are taken. */
  take(): number | undefined {
    const i = Atomics.add(this.next, 0, 1);
    return i < this.size ? i : undefined;
  }
}
