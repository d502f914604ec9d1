/**
 * Deflate bursts shared with a worker thread.
 *
 * Why: a message deflated per socket costs zlib about 7 µs per KiB-sized message, on the event loop
 * (sync-deflate.ts). When one run of the loop deflates for many sockets (a publish with dedicated compression,
 * a loop of compressed sends), that work is the whole run and the other cores stay idle. A whole message
 * without context takeover refers to nothing outside itself, so it may be deflated anywhere with the same
 * parameters: past the first BURST deflates of a run, every other one is handed to a worker thread, which
 * deflates them meanwhile (one context per parameter set, as on this thread) and answers the batch at once.
 * Messages of sockets with context takeover never come here: their history is in their own stream.
 *
 * The worker is started at the first burst, is unref'd (it never keeps a process alive), and answers with one
 * message per batch. If it fails, what it held is deflated on this thread and the worker is not used again.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { JOB_FIELDS, type DeflateBatchRequest, type DeflateBatchResult } from './deflate-batch.js';
import { deflateIndependently } from './sync-deflate.js';

/** Deflates of one run done on this thread before the worker takes a share (a lone send stays synchronous). */
export const OFFLOAD_BURST = 16;
/** Input handed to the worker and not yet answered, past which deflates stay on this thread. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

export type OffloadCallback = (err: Error | null, result?: Buffer) => void;

interface Job {
  data: Buffer;
  windowBits: number;
  options: zlib.ZlibOptions | undefined;
  cb: OffloadCallback;
}

/** The worker's script: compiled beside this file (dist/cjs); absent when running from the TypeScript source. */
let script: string | null = typeof __dirname === 'string' ? join(__dirname, 'deflate-worker.js') : null;

/** @internal Tests point the offload at the built worker (the sources have no JavaScript to start). */
export function setDeflateWorkerScript(path: string | null): void {
  script = path;
  usable = undefined;
  resetDeflateOffload();
}

let worker: Worker | null = null;
/** Set when the worker cannot start or failed: deflates stay on this thread for the process's life. */
let failed = false;
let nextId = 1;
/** Batches sent and not yet answered, by id. */
const pending = new Map<number, { jobs: Job[]; bytes: number }>();
let pendingBytes = 0;
/** Jobs handed to the worker, and jobs it answered (tests). */
let offloaded = 0;
let answered = 0;
/** Jobs of the batch being collected during this run, sent at its end. */
let batch: Job[] = [];
let flushQueued = false;

let runSync = 0;
let runOffloaded = 0;
let runResetQueued = false;

function endRun(): void {
  runResetQueued = false;
  runSync = 0;
  runOffloaded = 0;
}

function countInRun(): void {
  if (runResetQueued) return;
  runResetQueued = true;
  // A run is the synchronous stretch of one event-loop callback; microtasks run right after it.
  queueMicrotask(endRun);
}

/** Counts a deflate of this run made on this thread. */
export function noteSyncDeflate(): void {
  countInRun();
  runSync++;
}

/**
 * Whether the next whole message without context takeover should be deflated by the worker: in a burst,
 * every other one, while the worker is usable and not holding too much. No side effects.
 */
export function shouldOffload(): boolean {
  return (
    !failed &&
    runSync + runOffloaded >= OFFLOAD_BURST &&
    runOffloaded < runSync &&
    pendingBytes < MAX_PENDING_BYTES &&
    available()
  );
}

/** Whether there is a worker script and a core for it; looked up once. */
let usable: boolean | undefined;
function available(): boolean {
  usable ??= script !== null && availableParallelism() > 1 && existsSync(script);
  return usable;
}

/**
 * Deflates `data` (a whole message, without context takeover) on the worker; `cb` runs later with the payload
 * (tail removed), in a buffer of its own.
 */
export function offloadDeflate(
  data: Buffer,
  windowBits: number,
  options: zlib.ZlibOptions | undefined,
  cb: OffloadCallback,
): void {
  countInRun();
  runOffloaded++;
  offloaded++;
  pendingBytes += data.length;
  batch.push({ data, windowBits, options, cb });
  if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(flushBatch);
  }
}

function startWorker(): Worker | null {
  if (worker !== null) return worker;
  if (failed || script === null) return null;
  try {
    worker = new Worker(script);
  } catch {
    failed = true;
    return null;
  }
  const started = worker;
  started.on('message', (result: DeflateBatchResult) => onResult(result));
  const fail = (): void => {
    if (worker !== started) return;
    worker = null;
    failed = true;
    fallBack([...pending.values()].flatMap((b) => b.jobs));
    pending.clear();
    pendingBytes = 0;
  };
  started.on('error', fail);
  started.on('messageerror', fail);
  started.on('exit', fail);
  // After the listeners: adding one refs the worker's port again.
  started.unref();
  return started;
}

function flushBatch(): void {
  flushQueued = false;
  const jobs = batch;
  batch = [];
  if (jobs.length === 0) return;
  const target = startWorker();
  if (target === null) {
    fallBack(jobs);
    pendingBytes = 0;
    return;
  }
  // Inputs shared by several jobs (a publish) are sent once; parameter sets once each.
  const inputAt = new Map<Buffer, number>();
  let inputBytes = 0;
  const paramAt = new Map<string, number>();
  const params: number[] = [];
  const fields = new Int32Array(jobs.length * JOB_FIELDS);
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    let at = inputAt.get(job.data);
    if (at === undefined) {
      at = inputBytes;
      inputAt.set(job.data, at);
      inputBytes += job.data.length;
    }
    const level = job.options?.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
    const memLevel = job.options?.memLevel ?? 8;
    const strategy = job.options?.strategy ?? zlib.constants.Z_DEFAULT_STRATEGY;
    const key = `${job.windowBits} ${level} ${memLevel} ${strategy}`;
    let p = paramAt.get(key);
    if (p === undefined) {
      p = paramAt.size;
      paramAt.set(key, p);
      params.push(job.windowBits, level, memLevel, strategy);
    }
    fields[i * JOB_FIELDS] = at;
    fields[i * JOB_FIELDS + 1] = job.data.length;
    fields[i * JOB_FIELDS + 2] = p;
  }
  const input = new Uint8Array(inputBytes);
  for (const [data, at] of inputAt) input.set(data, at);
  const id = nextId++;
  const bytes = jobs.reduce((sum, job) => sum + job.data.length, 0);
  pending.set(id, { jobs, bytes });
  const request: DeflateBatchRequest = { id, input, jobs: fields, params: Int32Array.from(params) };
  target.postMessage(request, [input.buffer, fields.buffer]);
}

function onResult(result: DeflateBatchResult): void {
  const sent = pending.get(result.id);
  if (sent === undefined) return;
  pending.delete(result.id);
  pendingBytes -= sent.bytes;
  const output = Buffer.from(result.output.buffer, result.output.byteOffset, result.output.byteLength);
  let at = 0;
  for (let i = 0; i < sent.jobs.length; i++) {
    const job = sent.jobs[i]!;
    const length = result.lengths[i]!;
    if (length < 0) {
      // zlib refused the job there; here it gets the same answer (and a clear error).
      fallBack([job]);
      continue;
    }
    answered++;
    job.cb(null, output.subarray(at, at + length));
    at += length;
  }
}

/** Deflates `jobs` on this thread (the worker could not), each answered in a buffer of its own. */
function fallBack(jobs: Job[]): void {
  for (const job of jobs) {
    const out = deflateIndependently(job.data, job.windowBits, job.options);
    if (out === null) process.nextTick(job.cb, new Error('Compression failed'));
    else process.nextTick(job.cb, null, Buffer.from(out));
  }
}

/** @internal Stops the worker and forgets every state (tests). Jobs not answered yet are deflated here. */
export function resetDeflateOffload(): void {
  const running = worker;
  worker = null;
  failed = false;
  fallBack([...pending.values()].flatMap((b) => b.jobs));
  pending.clear();
  pendingBytes = 0;
  if (running !== null) void running.terminate();
  offloaded = 0;
  answered = 0;
  endRun();
}

/** @internal For tests: whether a worker is running, and what it holds. */
export function deflateOffloadState(): {
  running: boolean;
  failed: boolean;
  pendingBatches: number;
  pendingBytes: number;
  offloaded: number;
  answered: number;
} {
  return { running: worker !== null, failed, pendingBatches: pending.size, pendingBytes, offloaded, answered };
}
