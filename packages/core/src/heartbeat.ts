/**
 * Liveness checks for many sockets driven by one timer.
 *
 * Entries sit in a hashed timing wheel keyed by their next deadline. Activity never touches the wheel:
 * `touch()` only stamps the time, and when an entry's slot comes round its deadline is re-derived from
 * that stamp (lazy rescheduling). So the hot path is two field writes, and N sockets cost one interval
 * timer that runs only while entries exist.
 *
 * Times come from the global `performance.now()` (monotonic; jest fake timers also drive it).
 */

export interface HeartbeatOptions {
  /** Ping a socket once it has been idle this long (ms). */
  interval: number;
  /** Time a socket out if it shows no activity this long after the ping (ms). */
  timeout: number;
  /**
   * Wheel tick (ms): deadlines are rounded up to it, so it is the timing tolerance. Defaults to a tenth of
   * the smaller of interval and timeout, between 1 ms and 1 s.
   */
  resolution?: number;
  /**
   * What proves the peer alive. 'any' (default): any frame received; a socket that keeps sending is never
   * pinged, so busy connections cost nothing and only idle ones are probed. 'pong': only a pong answering our
   * ping; every socket is pinged each `interval`, and a peer that writes but never reads (so never sees the
   * ping) is dropped `timeout` ms later.
   */
  liveness?: 'any' | 'pong';
}

/** Largest delay a Node timer takes (ms); longer ones fire at once. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

function checkDelay(name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value > 0) || value > MAX_TIMER_DELAY) {
    throw new RangeError(
      `heartbeat ${name} must be a number of milliseconds above 0 and at most ${MAX_TIMER_DELAY}, got ${String(value)}`,
    );
  }
}

/** Throws a RangeError naming the first invalid heartbeat setting. */
export function validateHeartbeatOptions(options: unknown): asserts options is HeartbeatOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('The heartbeat option must be an object: { interval, timeout }');
  }
  const o = options as Record<string, unknown>;
  checkDelay('interval', o.interval);
  checkDelay('timeout', o.timeout);
  if (o.resolution !== undefined) {
    checkDelay('resolution', o.resolution);
    // Timers do not tick faster than 1 ms, and a finer wheel only costs memory.
    if ((o.resolution as number) < 1)
      throw new RangeError(`heartbeat resolution must be at least 1 ms, got ${String(o.resolution)}`);
  }
  if (o.liveness !== undefined && o.liveness !== 'any' && o.liveness !== 'pong') {
    throw new RangeError(`heartbeat liveness must be 'any' or 'pong', got ${String(o.liveness)}`);
  }
}

/** What a socket exposes to the heartbeat. */
export interface HeartbeatTarget {
  /** Send a ping frame carrying this payload. */
  sendHeartbeatPing(payload: Buffer): void;
  /** Give up on the socket: terminate it (its close event reports 1006 'heartbeat timeout'). */
  heartbeatTimedOut(): void;
}

/** Per-socket heartbeat state. */
export interface HeartbeatEntry {
  /** False from a ping until the next sign of life. */
  readonly isAlive: boolean;
  /** performance.now() of the last activity (or of add()). */
  readonly lastActivity: number;
  /** Round trip of the last answered heartbeat ping, in ms. */
  readonly rtt: number | undefined;
  /** Record that a frame arrived. O(1), no timer work. */
  touch(): void;
  /** Record a pong; returns the RTT in ms when the payload answers our outstanding ping. */
  pong(payload: Buffer): number | undefined;
}

const PING_PAYLOAD_LENGTH = 8;

class Entry implements HeartbeatEntry {
  lastActivity: number;
  rtt: number | undefined = undefined;
  /** Cleared by a ping, set by any activity. */
  alive = true;
  /** performance.now() of the outstanding ping; also encoded in its payload so the pong identifies it. */
  pingSentAt: number | undefined = undefined;

  // Wheel bookkeeping: intrusive doubly linked list per slot, so removal is O(1).
  dueTick = 0;
  slot = -1;
  prev: Entry | null = null;
  next: Entry | null = null;
  owner: Heartbeat | null;

  constructor(
    readonly target: HeartbeatTarget,
    owner: Heartbeat,
    now: number,
  ) {
    this.owner = owner;
    this.lastActivity = now;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  touch(): void {
    if (this.owner?.pongOnly) return;
    this.alive = true;
    this.lastActivity = performance.now();
  }

  pong(payload: Buffer): number | undefined {
    const sentAt = this.pingSentAt;
    const answers =
      sentAt !== undefined && payload.length === PING_PAYLOAD_LENGTH && payload.readDoubleBE(0) === sentAt;
    // In 'pong' mode only the answer to our ping counts: an unsolicited pong proves nothing was read.
    if (!answers) {
      this.touch();
      return undefined;
    }
    this.alive = true;
    this.lastActivity = performance.now();
    this.pingSentAt = undefined;
    this.rtt = this.lastActivity - sentAt;
    return this.rtt;
  }
}

export class Heartbeat {
  readonly interval: number;
  readonly timeout: number;
  readonly resolution: number;
  /** liveness 'pong': received data does not count, only answers to our pings. */
  readonly pongOnly: boolean;
  /** Gets what a target threw from its callbacks; the timer itself never throws. */
  readonly onError: (error: unknown) => void;

  #slots: (Entry | null)[];
  #origin = performance.now();
  /** Last tick whose slot has been processed. */
  #tick = 0;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: HeartbeatOptions, onError: (error: unknown) => void = reportTargetError) {
    validateHeartbeatOptions(options);
    const { interval, timeout } = options;
    const resolution = options.resolution ?? Math.min(1000, Math.max(1, Math.min(interval, timeout) / 10));
    this.interval = interval;
    this.timeout = timeout;
    this.resolution = resolution;
    this.pongOnly = options.liveness === 'pong';
    this.onError = onError;
    // Every deadline lies at most max(interval, timeout) ahead, so one revolution covers it; the spare
    // slots absorb rounding and timer lateness. Entries that still land early are kept by the dueTick check.
    this.#slots = new Array<Entry | null>(Math.ceil(Math.max(interval, timeout) / resolution) + 4).fill(null);
  }

  /** Number of entries being watched. */
  get size(): number {
    return this.#size;
  }

  add(target: HeartbeatTarget): HeartbeatEntry {
    if (this.#closed) throw new Error('Heartbeat is closed');
    if (this.#size === 0) this.#start();
    const now = performance.now();
    const entry = new Entry(target, this, now);
    this.#size++;
    this.#schedule(entry, now + this.interval);
    return entry;
  }

  remove(handle: HeartbeatEntry): void {
    if (!(handle instanceof Entry) || handle.owner !== this) return;
    this.#unlink(handle);
    handle.owner = null;
    if (--this.#size === 0) this.#stop();
  }

  /** Stops the timer and forgets every entry; no target is called after this. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    for (let i = 0; i < this.#slots.length; i++) {
      for (let e = this.#slots[i]; e !== null; e = e.next) e.owner = null;
      this.#slots[i] = null;
    }
    this.#size = 0;
  }

  #start(): void {
    // Re-base the wheel so tick numbers stay small and the first tick is a full resolution away.
    this.#origin = performance.now();
    this.#tick = 0;
    this.#timer = setInterval(() => {
      try {
        this.#advance();
      } catch (error) {
        // A bug here must not escape a timer callback: that would crash the process.
        this.#report(error);
      }
    }, this.resolution);
    this.#timer.unref();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #schedule(entry: Entry, deadline: number): void {
    // Round up so an entry is never handled before its deadline; never into a slot already passed.
    this.#insert(entry, Math.max(this.#tick + 1, Math.ceil((deadline - this.#origin) / this.resolution)));
  }

  #insert(entry: Entry, due: number): void {
    entry.dueTick = due;
    const slot = due % this.#slots.length;
    const head = this.#slots[slot] ?? null;
    entry.slot = slot;
    entry.prev = null;
    entry.next = head;
    if (head !== null) head.prev = entry;
    this.#slots[slot] = entry;
  }

  #unlink(entry: Entry): void {
    if (entry.slot < 0) return;
    if (entry.prev !== null) entry.prev.next = entry.next;
    else this.#slots[entry.slot] = entry.next;
    if (entry.next !== null) entry.next.prev = entry.prev;
    entry.prev = entry.next = null;
    entry.slot = -1;
  }

  #advance(): void {
    const now = performance.now();
    const target = Math.floor((now - this.#origin) / this.resolution);
    const toPing: Entry[] = [];
    const toTimeOut: Entry[] = [];
    // After a long event-loop stall visit each slot once; the dueTick check below catches everything due.
    const first = Math.max(this.#tick + 1, target - this.#slots.length + 1);
    for (let tick = first; tick <= target; tick++) {
      this.#tick = tick;
      const slot = tick % this.#slots.length;
      let entry = this.#slots[slot] ?? null;
      this.#slots[slot] = null;
      while (entry !== null) {
        const next: Entry | null = entry.next;
        entry.prev = entry.next = null;
        entry.slot = -1;
        if (entry.dueTick > target) this.#insert(entry, entry.dueTick);
        else this.#evaluate(entry, now, toPing, toTimeOut);
        entry = next;
      }
    }
    this.#tick = target;
    // Callbacks run after the wheel is consistent, since they may remove entries or close the heartbeat.
    for (const entry of toTimeOut) {
      try {
        entry.target.heartbeatTimedOut();
      } catch (error) {
        this.#report(error);
      }
    }
    for (const entry of toPing) {
      if (entry.owner !== this) continue;
      const payload = Buffer.allocUnsafe(PING_PAYLOAD_LENGTH);
      payload.writeDoubleBE(entry.pingSentAt ?? now, 0);
      try {
        entry.target.sendHeartbeatPing(payload);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  #report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // The reporter failed too; nothing is left to tell.
    }
  }

  #evaluate(entry: Entry, now: number, toPing: Entry[], toTimeOut: Entry[]): void {
    if (!entry.alive) {
      // A ping is outstanding and nothing arrived since.
      const sentAt = entry.pingSentAt ?? entry.lastActivity;
      if (now - sentAt >= this.timeout) {
        entry.owner = null;
        this.#size--;
        if (this.#size === 0) this.#stop();
        toTimeOut.push(entry);
      } else {
        this.#schedule(entry, sentAt + this.timeout);
      }
      return;
    }
    if (now - entry.lastActivity >= this.interval) {
      entry.alive = false;
      entry.pingSentAt = now;
      toPing.push(entry);
      // Look again after the shorter period: when the timeout is the longer one, a prompt answer must
      // not postpone the next idle check until the timeout would have expired.
      this.#schedule(entry, now + Math.min(this.timeout, this.interval));
    } else {
      this.#schedule(entry, entry.lastActivity + this.interval);
    }
  }
}

/** Default reporter: a process warning (printed once per distinct message by Node), never an exception. */
function reportTargetError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.emitWarning(`A heartbeat target failed: ${message}`, { code: 'WSKIT_HEARTBEAT_TARGET' });
}
