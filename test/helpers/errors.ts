/** Catching the KilnError a call throws (sync or async), failing the test when there is none. */
import { KilnError } from '../../src/errors.js';

export function thrown(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KilnError) return e;
    throw e;
  }
  throw new Error('expected a KilnError');
}

export async function rejected(fn: () => Promise<unknown>): Promise<KilnError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof KilnError) return e;
    throw e;
  }
  throw new Error('expected a KilnError');
}
