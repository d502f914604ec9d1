/**
 * A batch of independent deflates: the work a deflate worker (deflate-worker.ts) does for the main thread.
 *
 * Each job is one whole message compressed without context takeover, so it may run on any zlib context with
 * the job's parameters: the worker keeps one per parameter set (sync-deflate.ts's process-wide deflaters,
 * which are per thread). Inputs travel in one buffer, outputs come back in one buffer: two transfers per batch
 * whatever its size, instead of a message per deflate.
 */
import { deflateAlone, independentDeflater } from './sync-deflate.js';

/** Fields per job in `DeflateBatchRequest.jobs`: input offset, input length, parameter set index. */
export const JOB_FIELDS = 3;
/** Fields per parameter set in `DeflateBatchRequest.params`: windowBits, level, memLevel, strategy. */
export const PARAM_FIELDS = 4;

export interface DeflateBatchRequest {
  id: number;
  /** Every job's input, back to back (an input shared by several jobs is there once). */
  input: Uint8Array;
  jobs: Int32Array;
  params: Int32Array;
}

export interface DeflateBatchResult {
  id: number;
  /** Every job's output (the 00 00 ff ff tail removed), back to back in job order. */
  output: Uint8Array<ArrayBuffer>;
  /** Output length of each job; -1 where zlib failed. */
  lengths: Int32Array<ArrayBuffer>;
}

/** Deflates every job of `request` on this thread. */
export function deflateBatch(request: DeflateBatchRequest): DeflateBatchResult {
  const { input, jobs, params } = request;
  const count = Math.floor(jobs.length / JOB_FIELDS);
  const lengths = new Int32Array(count);
  const view = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let output = Buffer.allocUnsafe(Math.max(1024, input.byteLength));
  let used = 0;
  for (let i = 0; i < count; i++) {
    const at = i * JOB_FIELDS;
    const p = jobs[at + 2]! * PARAM_FIELDS;
    const deflater = independentDeflater(params[p]!, {
      level: params[p + 1]!,
      memLevel: params[p + 2]!,
      strategy: params[p + 3]!,
    });
    const out = deflater === null ? null : deflateAlone(deflater, view.subarray(jobs[at]!, jobs[at]! + jobs[at + 1]!));
    if (out === null) {
      lengths[i] = -1;
      continue;
    }
    if (output.length - used < out.length) {
      const grown = Buffer.allocUnsafe(Math.max(output.length * 2, used + out.length));
      output.copy(grown, 0, 0, used);
      output = grown;
    }
    out.copy(output, used);
    used += out.length;
    lengths[i] = out.length;
  }
  // A copy of the used part: the transfer hands over the whole underlying buffer.
  return { id: request.id, output: new Uint8Array(output.subarray(0, used)), lengths };
}
