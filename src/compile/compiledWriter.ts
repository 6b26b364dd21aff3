/**
 * Writing compiled SQL files under target/compiled/, off the main thread once there are many.
 *
 * Creating a file costs a few system calls of kernel time (0.05–0.5 ms each on this kind of disk, and the
 * figure swings with the disk's other work), and a 30,000-node compile creates 30,000 files. Through
 * `fs/promises` each step of each file is a thread-pool round trip that needs the main thread to start the
 * next one, so the writes stalled whenever the main thread was busy saving the parse snapshot or the
 * manifest. A writer thread doing plain synchronous writes runs on the second core alongside that work.
 *
 * Files are queued with `add()`; a queue that reaches BATCH files starts the writer thread and is handed to
 * it. `finish()` writes what is left (on this thread when the writer never started: small projects pay no
 * thread start) and returns each file's stat after its write.
 *
 * @example
 *   const writer = new CompiledFileWriter(new URL('./compiledWriterWorker.js', import.meta.url));
 *   writer.add({ file: '/p/target/compiled/p/models/a.sql', sql: 'select 1', replace: false });
 *   const { written, error } = await writer.finish();
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { writeAll } from '../project/files.js';

export interface FileWrite {
  file: string;
  sql: string;
  /** Write beside and rename over the file (it exists, and its folder's stat must change). */
  replace: boolean;
}

/** [file, size, mtimeMs] after the write. */
export type FileWritten = [string, number, number];

export interface WriteOutcome {
  written: FileWritten[];
  /** The first failure's message; later files are still attempted. */
  error?: string;
}

/** Messages to the writer thread. */
export type WriterRequest = { kind: 'batch'; writes: FileWrite[] } | { kind: 'finish' };

/** Queued files before the writer thread starts (and per message to it). */
const BATCH = 500;

/** Write each file now, making folders as needed (`madeDirs` remembers those already made). */
export function writeFilesNow(writes: readonly FileWrite[], madeDirs: Set<string>, into: WriteOutcome): void {
  for (const w of writes) {
    try {
      const dir = dirname(w.file);
      if (!madeDirs.has(dir)) {
        mkdirSync(dir, { recursive: true });
        madeDirs.add(dir);
      }
      const path = w.replace ? `${w.file}.tmp` : w.file;
      const fd = openSync(path, 'w');
      let stat;
      try {
        writeAll(fd, Buffer.from(w.sql));
        stat = fstatSync(fd);
      } finally {
        closeSync(fd);
      }
      if (w.replace) renameSync(path, w.file);
      into.written.push([w.file, stat.size, stat.mtimeMs]);
    } catch (e) {
      into.error ??= (e as Error).message;
    }
  }
}

export class CompiledFileWriter {
  private queue: FileWrite[] = [];
  private worker?: Worker;
  private workerDone?: Promise<WriteOutcome>;

  /** `workerUrl`: the writer thread's script, or undefined to write on this thread only. */
  constructor(private readonly workerUrl: URL | undefined) {}

  add(write: FileWrite): void {
    this.queue.push(write);
    if (this.queue.length >= BATCH && this.workerUrl) this.handOver();
  }

  private handOver(): void {
    if (!this.worker) {
      const worker = new Worker(this.workerUrl!);
      this.worker = worker;
      this.workerDone = new Promise<WriteOutcome>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`the compiled-file writer stopped with code ${code}`)));
      });
      // Until finish() waits for it, a failed start must not surface as an unhandled rejection.
      this.workerDone.catch(() => undefined);
    }
    const request: WriterRequest = { kind: 'batch', writes: this.queue };
    this.worker.postMessage(request);
    this.queue = [];
  }

  /** Write everything queued; resolves once all of it is on disk (or failed). The writer can be used again. */
  async finish(): Promise<WriteOutcome> {
    const outcome: WriteOutcome = { written: [] };
    if (this.worker) {
      if (this.queue.length) this.handOver();
      const worker = this.worker;
      const done = this.workerDone!;
      this.worker = undefined;
      this.workerDone = undefined;
      worker.postMessage({ kind: 'finish' } satisfies WriterRequest);
      try {
        const fromWorker = await done;
        outcome.written.push(...fromWorker.written);
        outcome.error = fromWorker.error;
      } catch (e) {
        outcome.error = (e as Error).message;
      } finally {
        void worker.terminate();
      }
    }
    if (this.queue.length) {
      writeFilesNow(this.queue, new Set(), outcome);
      this.queue = [];
    }
    return outcome;
  }
}
