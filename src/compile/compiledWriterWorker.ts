/**
 * The compiled-file writer thread (see compiledWriter.ts): writes each batch it is sent, and on `finish`
 * answers with every file's stat and the first error.
 */
import { parentPort } from 'node:worker_threads';
import { writeFilesNow, type WriteOutcome, type WriterRequest } from './compiledWriter.js';

const outcome: WriteOutcome = { written: [] };
const madeDirs = new Set<string>();

parentPort!.on('message', (request: WriterRequest) => {
  if (request.kind === 'batch') writeFilesNow(request.writes, madeDirs, outcome);
  else parentPort!.postMessage(outcome);
});
