/**
 * What every adapter's connection pool offers, and a base class that gives an adapter the session methods of
 * the Adapter interface by delegating to its pool.
 *
 * @example
 * class MyAdapter extends PooledAdapter<MyPool> implements Adapter { … }  // withConnection, cancelAll, close
 */
import type { Connection } from '../src/adapter.js';

export interface ConnectionPool {
  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T>;
  cancelAll(): Promise<void>;
  close(): Promise<void>;
}

export abstract class PooledAdapter<P extends ConnectionPool> {
  constructor(protected readonly pool: P) {}

  /** Run `fn` on one pooled connection; the connection is released when the promise settles. */
  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    return this.pool.withConnection(fn);
  }

  /** Cancel every in-flight statement (SIGINT). */
  cancelAll(): Promise<void> {
    return this.pool.cancelAll();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * A pool opened on first use: `kiln compile` asks for the warehouse, but most projects never query it
 * while compiling (only introspective models do), and opening one (DuckDB: loading the native module and
 * the database file) is a tenth of a warm compile. An open that fails rejects every use with its error.
 */
export class LazyPool<P extends ConnectionPool> implements ConnectionPool {
  private opening?: Promise<P>;
  constructor(private readonly open: () => Promise<P>) {}

  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    this.opening ??= this.open();
    return this.opening.then((pool) => pool.withConnection(fn));
  }

  async cancelAll(): Promise<void> {
    if (this.opening) await this.opening.then((pool) => pool.cancelAll(), () => undefined);
  }

  async close(): Promise<void> {
    if (this.opening) await this.opening.then((pool) => pool.close(), () => undefined);
  }
}
