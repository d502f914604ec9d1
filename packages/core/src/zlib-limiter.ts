/**
 * A FIFO job queue that bounds how many zlib operations are in flight at once.
 *
 * zlib work runs on libuv's thread pool and each operation pins native buffers; thousands of sockets
 * compressing at once fragment memory badly (nodejs/node#8871). One limiter is shared process-wide.
 */

/** A job receives `done`, which it must call exactly once when its zlib work has settled. */
export type ZlibJob = (done: () => void) => void;

export class ZlibLimiter {
  readonly concurrency: number;
  #running = 0;
  #jobs: (ZlibJob | undefined)[] = [];
  #head = 0;
  #draining = false;

  /** `concurrency`: a positive integer, or Infinity for no limit. */
  constructor(concurrency: number) {
    if (!(concurrency === Infinity || (Number.isInteger(concurrency) && concurrency > 0))) {
      throw new RangeError(`Invalid zlib concurrency limit: ${concurrency}`);
    }
    this.concurrency = concurrency;
  }

  /** Jobs started and not yet done. */
  get running(): number {
    return this.#running;
  }

  /** Jobs waiting for a free slot. */
  get queued(): number {
    return this.#jobs.length - this.#head;
  }

  add(job: ZlibJob): void {
    this.#jobs.push(job);
    this.#drain();
  }

  #drain(): void {
    // A job may finish synchronously; the flag turns that re-entry into another turn of this loop.
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#running < this.concurrency && this.#head < this.#jobs.length) {
        const job = this.#jobs[this.#head] as ZlibJob;
        this.#jobs[this.#head++] = undefined;
        if (this.#head === this.#jobs.length) {
          this.#jobs = [];
          this.#head = 0;
        } else if (this.#head >= 1024 && this.#head * 2 >= this.#jobs.length) {
          this.#jobs = this.#jobs.slice(this.#head);
          this.#head = 0;
        }
        this.#running++;
        let released = false;
        const done = (): void => {
          if (released) return;
          released = true;
          this.#running--;
          this.#drain();
        };
        try {
          job(done);
        } catch (err) {
          done();
          throw err;
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}

let shared: ZlibLimiter | undefined;

/**
 * The process-wide limiter. As in `ws`, the first caller's limit wins: the thread pool it protects is
 * global, so per-socket limits would not bound anything.
 */
export function sharedZlibLimiter(concurrency: number): ZlibLimiter {
  shared ??= new ZlibLimiter(concurrency);
  return shared;
}
