/**
 * permessage-deflate (RFC 7692): negotiation and per-message compression, with the options and
 * defaults of `ws` 8.
 *
 * Each direction has its own lane: calls are served strictly in order, one at a time, and only the
 * head of a lane occupies a slot of the process-wide zlib limiter. zlib streams are created once and
 * reused (reset between messages when context takeover is off), never created per message.
 */
import * as zlib from 'node:zlib';
import { WebSocketError } from './errors.js';
import type { ExtensionParams } from './extension-header.js';
import { noteSyncDeflate, offloadDeflate, shouldOffload } from './deflate-offload.js';
import { deflateAlone, independentDeflater, SYNC_DEFLATE_LIMIT, SyncDeflater } from './sync-deflate.js';
import { SYNC_INFLATE_BUDGET, SYNC_INFLATE_INPUT_LIMIT, SyncInflater, withTail } from './sync-inflate.js';
import { sharedZlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

export interface PerMessageDeflateOptions {
  /** Server: demand (true) or refuse (false) that the server resets its compressor between messages. */
  serverNoContextTakeover?: boolean;
  /** Demand (true) or refuse (false) that the client resets its compressor between messages. */
  clientNoContextTakeover?: boolean;
  /** A number (8..15) requests/sets the server's LZ77 window; false refuses any limit on it. */
  serverMaxWindowBits?: boolean | number;
  /** A number (8..15) requests/sets the client's LZ77 window; false: client does not advertise support. */
  clientMaxWindowBits?: boolean | number;
  zlibDeflateOptions?: zlib.ZlibOptions;
  zlibInflateOptions?: zlib.ZlibOptions;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib operations in flight at once, process-wide; the first instance created sets it. Default 10. */
  concurrencyLimit?: number;
  /**
   * Whether this side's whole messages without context takeover may be deflated by the process's deflate
   * worker thread when one event-loop run deflates many of them (deflate-offload.ts). Default true.
   */
  deflateWorker?: boolean;
}

export type PerMessageDeflateParams = Record<string, string | number | true>;
export type PerMessageDeflateCallback = (err: Error | null, result?: Buffer) => void;
/** Sees each piece of inflated output as zlib produces it; a returned error fails the message at once. */
export type InflateOutputCheck = (chunk: Buffer) => WebSocketError | null;

const SERVER_NO_CONTEXT_TAKEOVER = 'server_no_context_takeover';
const CLIENT_NO_CONTEXT_TAKEOVER = 'client_no_context_takeover';
const SERVER_MAX_WINDOW_BITS = 'server_max_window_bits';
const CLIENT_MAX_WINDOW_BITS = 'client_max_window_bits';

/** Removed from the end of every compressed message and put back before inflating (RFC 7692 §7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Compressed messages up to this size get the tail appended by a copy, saving a zlib round trip. */
const JOIN_LIMIT = 64 * 1024;
const EMPTY: Buffer = Buffer.alloc(0);
const DEFAULT_WINDOW_BITS = 15;

/** RFC 7692 §7.1.2: a decimal integer 8..15 without leading zeroes. */
const WINDOW_BITS_VALUES: ReadonlyMap<string, number> = new Map(
  [8, 9, 10, 11, 12, 13, 14, 15].map((n) => [String(n), n] as const),
);

interface Negotiated {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: offered without a value (client supports the parameter). */
  clientMaxWindowBits: number | true | undefined;
}

type Parsed = { ok: true; value: Negotiated } | { ok: false; reason: string };

function isWindowBits(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 8 && value <= 15;
}

/** Validates one offer or response against RFC 7692 §7.1; `valuelessClientBits` is legal only in offers. */
function parseParams(params: ExtensionParams, valuelessClientBits: boolean): Parsed {
  const out: Negotiated = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  for (const name of Object.keys(params)) {
    const raw: unknown = params[name];
    const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
    if (values.length !== 1) return { ok: false, reason: `parameter "${name}" must appear once` };
    const value = values[0];
    switch (name) {
      case SERVER_NO_CONTEXT_TAKEOVER:
      case CLIENT_NO_CONTEXT_TAKEOVER:
        if (value !== true) return { ok: false, reason: `parameter "${name}" must not have a value` };
        if (name === SERVER_NO_CONTEXT_TAKEOVER) out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case SERVER_MAX_WINDOW_BITS:
      case CLIENT_MAX_WINDOW_BITS: {
        let bits: number | true | undefined;
        if (value === true) {
          if (name === CLIENT_MAX_WINDOW_BITS && valuelessClientBits) bits = true;
        } else if (typeof value === 'string') {
          bits = WINDOW_BITS_VALUES.get(value);
        } else if (isWindowBits(value)) {
          bits = value;
        }
        if (bits === undefined) {
          return { ok: false, reason: `invalid value for parameter "${name}": ${String(value)}` };
        }
        if (name === SERVER_MAX_WINDOW_BITS) out.serverMaxWindowBits = bits as number;
        else out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return { ok: false, reason: `unknown parameter "${name}"` };
    }
  }
  return { ok: true, value: out };
}

function toParams(n: Negotiated): PerMessageDeflateParams {
  const params: PerMessageDeflateParams = {};
  if (n.serverNoContextTakeover) params[SERVER_NO_CONTEXT_TAKEOVER] = true;
  if (n.clientNoContextTakeover) params[CLIENT_NO_CONTEXT_TAKEOVER] = true;
  if (n.serverMaxWindowBits !== undefined) params[SERVER_MAX_WINDOW_BITS] = n.serverMaxWindowBits;
  if (n.clientMaxWindowBits !== undefined) params[CLIENT_MAX_WINDOW_BITS] = n.clientMaxWindowBits;
  return params;
}

/**
 * Whether the peer ended its deflate stream (a BFINAL block). 'end' may be emitted a few ticks after
 * zlib saw the end, later than the flush callback, so the readable state's `ended` flag (set when the
 * end is pushed; the same internals `ws` reads) is consulted too.
 */
function inflaterEnded(stream: zlib.InflateRaw): boolean {
  if (stream.readableEnded) return true;
  const state = (stream as unknown as { _readableState?: { ended?: unknown } })._readableState;
  return state?.ended === true;
}

/** zlib's inflate error as the 1007 the socket closes with. */
function invalidCompressedData(cause: Error): WebSocketError {
  const wrapped = new WebSocketError(
    'WS_ERR_INVALID_COMPRESSED_DATA',
    1007,
    `Invalid compressed data: ${cause.message}`,
  );
  (wrapped as Error & { cause?: unknown }).cause = cause;
  return wrapped;
}

function concat(chunks: Buffer[], size: number): Buffer {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length === 0) return EMPTY;
  return Buffer.concat(chunks, size);
}

interface Task {
  data: Buffer;
  fin: boolean;
  cb: PerMessageDeflateCallback;
  check?: InflateOutputCheck;
  /** Inflate: the rest of a message begun synchronously (its tail included, its output so far kept). */
  continued?: boolean;
  /** Deflate: a whole message without context takeover, given to the deflate worker (deflate-offload.ts). */
  offload?: boolean;
}

/** One direction's ordered queue; `release` frees the limiter slot held by the running task. */
interface Lane {
  tasks: Task[];
  active: boolean;
  release: (() => void) | null;
}

function newLane(): Lane {
  return { tasks: [], active: false, release: null };
}

export class PerMessageDeflate {
  static readonly extensionName = 'permessage-deflate' as const;

  readonly threshold: number;
  /** The negotiated parameters, once `accept` succeeded. */
  params: PerMessageDeflateParams | null = null;

  readonly #options: PerMessageDeflateOptions;
  readonly #isServer: boolean;
  readonly #maxPayload: number;
  readonly #limiter: ZlibLimiter;
  #negotiated: Negotiated | null = null;
  #closed = false;

  readonly #inflateLane: Lane = newLane();
  #inflate: zlib.InflateRaw | null = null;
  /** The task whose output the inflater is producing. */
  #inflateTask: Task | null = null;
  /** Inflated output of the message so far (across fragments). */
  #inflateChunks: Buffer[] = [];
  #inflateSize = 0;
  /** A message's first fragments went in and its last has not. */
  #inflateMidMessage = false;
  /** Set once inflation failed; the message stream is broken, so every later call fails alike. */
  #inflateError: WebSocketError | null = null;
  /** Synchronous access to #inflate (sync-inflate.ts), for the stream it was made for. */
  #syncInflate: SyncInflater | null = null;
  /**
   * Output inflated synchronously since this socket's last thread-pool inflate. Past the budget the next message
   * goes to the thread pool (the receiver holds its input meanwhile), so a peer sending small messages that
   * inflate hugely gets no more of the event loop than one budget per round trip: other sockets are served.
   */
  #syncInflated = 0;

  readonly #deflateLane: Lane = newLane();
  #deflate: zlib.DeflateRaw | null = null;
  #deflateTask: Task | null = null;
  #deflateChunks: Buffer[] = [];
  #deflateSize = 0;
  /** Synchronous access to #deflate (sync-deflate.ts); null until first needed or where unavailable. */
  #syncDeflate: SyncDeflater | null = null;
  /** A message's first fragments were deflated and its last has not been. */
  #deflateMidMessage = false;
  /** The process-wide deflater for whole messages without context takeover; undefined until looked up. */
  #independent: SyncDeflater | null | undefined = undefined;

  constructor(options: PerMessageDeflateOptions | undefined, isServer: boolean, maxPayload: number) {
    const opts = options ?? {};
    for (const key of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) {
      const value = opts[key];
      if (typeof value === 'number' && !isWindowBits(value)) {
        throw new RangeError(`Invalid permessage-deflate option ${key}: ${value} (expected 8..15)`);
      }
    }
    const threshold = opts.threshold ?? 1024;
    if (typeof threshold !== 'number' || Number.isNaN(threshold) || threshold < 0) {
      throw new RangeError(`Invalid permessage-deflate threshold: ${String(threshold)}`);
    }
    this.#options = opts;
    this.#isServer = isServer;
    this.#maxPayload = maxPayload > 0 ? maxPayload : 0;
    this.threshold = threshold;
    this.#limiter = sharedZlibLimiter(opts.concurrencyLimit ?? 10);
  }

  /** Client: the parameters to offer in the request. */
  offer(): PerMessageDeflateParams {
    const opts = this.#options;
    const params: PerMessageDeflateParams = {};
    if (opts.serverNoContextTakeover) params[SERVER_NO_CONTEXT_TAKEOVER] = true;
    if (opts.clientNoContextTakeover) params[CLIENT_NO_CONTEXT_TAKEOVER] = true;
    // RFC 7692 §7.1.2.1: server_max_window_bits always carries a value, so `true` offers nothing.
    if (typeof opts.serverMaxWindowBits === 'number') params[SERVER_MAX_WINDOW_BITS] = opts.serverMaxWindowBits;
    if (typeof opts.clientMaxWindowBits === 'number') params[CLIENT_MAX_WINDOW_BITS] = opts.clientMaxWindowBits;
    else if (opts.clientMaxWindowBits !== false) params[CLIENT_MAX_WINDOW_BITS] = true;
    return params;
  }

  /**
   * Server: picks the first offer it can honour and returns the response parameters.
   * Client: validates the server's response (a single element) and returns the parameters in force.
   * Throws when nothing is acceptable.
   */
  accept(offers: ExtensionParams[]): PerMessageDeflateParams {
    const negotiated = this.#isServer ? this.#acceptOffer(offers) : this.#acceptResponse(offers);
    this.#negotiated = negotiated;
    this.params = toParams(negotiated);
    return { ...this.params };
  }

  #acceptOffer(offers: ExtensionParams[]): Negotiated {
    const opts = this.#options;
    const reasons: string[] = [];
    for (const offer of offers) {
      const parsed = parseParams(offer, true);
      if (!parsed.ok) {
        reasons.push(parsed.reason);
        continue;
      }
      const p = parsed.value;
      if (opts.serverNoContextTakeover === false && p.serverNoContextTakeover) {
        reasons.push('server_no_context_takeover is disabled');
        continue;
      }
      if (
        p.serverMaxWindowBits !== undefined &&
        (opts.serverMaxWindowBits === false ||
          (typeof opts.serverMaxWindowBits === 'number' && opts.serverMaxWindowBits > p.serverMaxWindowBits))
      ) {
        reasons.push(`server_max_window_bits=${p.serverMaxWindowBits} cannot be honoured`);
        continue;
      }
      if (
        typeof opts.clientMaxWindowBits === 'number' &&
        (p.clientMaxWindowBits === undefined ||
          (typeof p.clientMaxWindowBits === 'number' && opts.clientMaxWindowBits > p.clientMaxWindowBits))
      ) {
        reasons.push(
          p.clientMaxWindowBits === undefined
            ? 'client_max_window_bits is required but was not offered'
            : `client_max_window_bits=${p.clientMaxWindowBits} is below the configured limit`,
        );
        continue;
      }

      // Echo what was offered (RFC 7692 requires echoing server_no_context_takeover), then apply
      // what this server demands; a valueless client_max_window_bits only signals support.
      let clientBits: number | undefined;
      if (typeof opts.clientMaxWindowBits === 'number') clientBits = opts.clientMaxWindowBits;
      else if (opts.clientMaxWindowBits !== false && typeof p.clientMaxWindowBits === 'number') {
        clientBits = p.clientMaxWindowBits;
      }
      return {
        serverNoContextTakeover: opts.serverNoContextTakeover === true || p.serverNoContextTakeover,
        clientNoContextTakeover: opts.clientNoContextTakeover === true || p.clientNoContextTakeover,
        serverMaxWindowBits:
          typeof opts.serverMaxWindowBits === 'number' ? opts.serverMaxWindowBits : p.serverMaxWindowBits,
        clientMaxWindowBits: clientBits,
      };
    }
    const detail = reasons.length > 0 ? ` (${reasons.join('; ')})` : '';
    throw new Error(`None of the permessage-deflate offers can be accepted${detail}`);
  }

  #acceptResponse(response: ExtensionParams[]): Negotiated {
    if (response.length !== 1) {
      throw new Error(`Expected one permessage-deflate response, got ${response.length}`);
    }
    const parsed = parseParams(response[0], false);
    if (!parsed.ok) throw new Error(`Invalid permessage-deflate response: ${parsed.reason}`);
    const p = parsed.value;
    const opts = this.#options;

    if (opts.clientNoContextTakeover === false && p.clientNoContextTakeover) {
      throw new Error('Unexpected permessage-deflate parameter "client_no_context_takeover"');
    }
    if (opts.serverNoContextTakeover === true && !p.serverNoContextTakeover) {
      throw new Error('Missing permessage-deflate parameter "server_no_context_takeover"');
    }
    if (typeof opts.serverMaxWindowBits === 'number') {
      if (p.serverMaxWindowBits === undefined) {
        throw new Error('Missing permessage-deflate parameter "server_max_window_bits"');
      }
      if (p.serverMaxWindowBits > opts.serverMaxWindowBits) {
        throw new Error(`Invalid permessage-deflate parameter "server_max_window_bits": ${p.serverMaxWindowBits}`);
      }
    }
    if (p.clientMaxWindowBits === undefined) {
      // The server did not restrict us further; keep within what we announced.
      if (typeof opts.clientMaxWindowBits === 'number') p.clientMaxWindowBits = opts.clientMaxWindowBits;
    } else if (
      opts.clientMaxWindowBits === false ||
      (typeof opts.clientMaxWindowBits === 'number' && (p.clientMaxWindowBits as number) > opts.clientMaxWindowBits)
    ) {
      throw new Error(
        `Unexpected or invalid permessage-deflate parameter "client_max_window_bits": ${String(p.clientMaxWindowBits)}`,
      );
    }
    return p;
  }

  /**
   * Inflates one frame's payload of a compressed message. On `fin` the callback gets the whole
   * message; for earlier fragments it gets an empty buffer (their output is kept until `fin`).
   * `check` sees the output as it comes (the receiver validates text there, before the rest is inflated).
   */
  decompress(data: Buffer, fin: boolean, cb: PerMessageDeflateCallback, check?: InflateOutputCheck): void {
    this.#requireNegotiated();
    this.#enqueue(this.#inflateLane, { data, fin, cb, check }, (task) => this.#startInflate(task));
  }

  /**
   * decompress() that finishes at once when it can (see sync-inflate.ts): a whole small message with nothing
   * queued before it is inflated on this thread and returned, or its failure is returned (and every later
   * call fails alike). Returns null when the callback will run instead: the message went to decompress(), or
   * outgrew the synchronous budget and continues on the thread pool.
   */
  decompressNow(
    data: Buffer,
    fin: boolean,
    cb: PerMessageDeflateCallback,
    check?: InflateOutputCheck,
  ): Buffer | WebSocketError | null {
    const lane = this.#inflateLane;
    if (
      !fin ||
      this.#negotiated === null ||
      this.#closed ||
      this.#inflateMidMessage ||
      this.#inflateError !== null ||
      lane.active ||
      lane.tasks.length > 0 ||
      data.length > SYNC_INFLATE_INPUT_LIMIT ||
      this.#syncInflated >= SYNC_INFLATE_BUDGET
    ) {
      this.decompress(data, fin, cb, check);
      return null;
    }
    let stream = this.#inflate;
    if (stream === null || inflaterEnded(stream)) {
      stream?.close();
      stream = this.#createInflate();
    }
    let sync = this.#syncInflate;
    if (sync === null || sync.stream !== stream) sync = this.#syncInflate = SyncInflater.from(stream);
    if (sync === null) {
      this.decompress(data, fin, cb, check);
      return null;
    }
    // Between messages with the lane idle, #inflateChunks is empty: the output collects where the thread-pool
    // path puts it, so a message that outgrows the budget continues there as it is.
    let refused: WebSocketError | null = null;
    const input = withTail(data);
    const outcome = sync.inflate(
      input,
      SYNC_INFLATE_BUDGET,
      (chunk) => (refused = this.#acceptInflated(chunk, check, true)) === null,
    );
    this.#syncInflated += this.#inflateSize;
    switch (outcome) {
      case 'stopped':
        this.#failInflate(refused!);
        return refused!;
      case 'failed': {
        const error = invalidCompressedData(stream.errored ?? new Error('zlib failed'));
        this.#failInflate(error);
        return error;
      }
      case 'more':
        // The rest on the thread pool, from where zlib stopped; the output so far is the message's start.
        this.#enqueue(
          lane,
          { data: Buffer.from(input.subarray(sync.consumed)), fin: true, cb, check, continued: true },
          (task) => this.#startInflate(task),
        );
        return null;
      case 'ended':
        // A final block: the next message starts a fresh stream.
        this.#inflate = null;
        stream.close();
        break;
      case 'done': {
        const n = this.#negotiated;
        if (this.#isServer ? n.clientNoContextTakeover : n.serverNoContextTakeover) sync.reset();
        break;
      }
    }
    const result = concat(this.#inflateChunks, this.#inflateSize);
    this.#inflateChunks = [];
    this.#inflateSize = 0;
    return result;
  }

  /** Deflates a message (`fin`) or one fragment of it; the callback gets that frame's payload. */
  compress(data: Buffer, fin: boolean, cb: PerMessageDeflateCallback): void {
    this.#requireNegotiated();
    const offload = this.#offloadable(data, fin) && shouldOffload();
    this.#deflateMidMessage = !fin;
    this.#enqueue(this.#deflateLane, { data, fin, cb, offload }, (task) => this.#startDeflate(task));
  }

  /** A whole small message without context takeover, with nothing queued before it: it may go anywhere. */
  #offloadable(data: Buffer, fin: boolean): boolean {
    const lane = this.#deflateLane;
    return (
      fin &&
      !this.#deflateMidMessage &&
      data.length <= SYNC_DEFLATE_LIMIT &&
      !lane.active &&
      lane.tasks.length === 0 &&
      !this.#closed &&
      this.independentWindowBits !== 0 &&
      this.#options.deflateWorker !== false &&
      this.#options.zlibDeflateOptions?.dictionary === undefined
    );
  }

  /**
   * Deflates a small message or fragment at once, on this thread (see sync-deflate.ts), when nothing is
   * queued before it. Returns the frame's payload, a view valid until the next deflate (copy it before
   * anything else runs), or null: then call compress(), which keeps the order.
   */
  compressNow(data: Buffer, fin: boolean): Buffer | null {
    const n = this.#negotiated;
    const lane = this.#deflateLane;
    if (n === null || this.#closed || data.length > SYNC_DEFLATE_LIMIT || lane.active || lane.tasks.length > 0) {
      return null;
    }
    const noTakeover = this.#isServer ? n.serverNoContextTakeover : n.clientNoContextTakeover;
    // A whole message without context takeover takes a turn on a process-wide context: no stream of our own.
    if (noTakeover && fin && !this.#deflateMidMessage) {
      // In a burst, some go to the deflate worker instead (compress() sends them there).
      if (shouldOffload() && this.#offloadable(data, fin)) return null;
      let shared = this.#independent;
      if (shared === undefined || (shared !== null && !shared.usable)) {
        shared = this.#independent = independentDeflater(this.#ownWindowBits(), this.#options.zlibDeflateOptions);
      }
      if (shared !== null) {
        noteSyncDeflate();
        return deflateAlone(shared, data);
      }
    }
    let sync = this.#syncDeflate;
    if (sync === null || !sync.usable) {
      let stream: zlib.DeflateRaw;
      try {
        stream = this.#deflate ?? this.#createDeflate();
      } catch {
        // Bad zlib options: compress() reports them as it always has.
        return null;
      }
      sync = this.#syncDeflate = SyncDeflater.from(stream);
      if (sync === null) return null;
    }
    const out = sync.deflate(data, fin);
    if (out === null) return null;
    this.#deflateMidMessage = !fin;
    if (fin && noTakeover) sync.reset();
    return out;
  }

  /**
   * The window bits of this side's compressor when it compresses every message without context takeover,
   * else 0. Sockets with the same nonzero value can take one message deflated on its own (topics.ts): it
   * refers to nothing before it, and this side's own stream refers to nothing before its next message.
   */
  get independentWindowBits(): number {
    const n = this.#negotiated;
    if (n === null || this.#closed) return 0;
    if (!(this.#isServer ? n.serverNoContextTakeover : n.clientNoContextTakeover)) return 0;
    return this.#ownWindowBits();
  }

  get zlibDeflateOptions(): zlib.ZlibOptions | undefined {
    return this.#options.zlibDeflateOptions;
  }

  /** Releases the zlib streams at once. Queued and running operations are dropped without callbacks. */
  cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const lane of [this.#inflateLane, this.#deflateLane]) {
      lane.tasks = [];
      const release = lane.release;
      lane.release = null;
      release?.();
    }
    this.#inflate?.close();
    this.#inflate = null;
    this.#inflateTask = null;
    this.#inflateChunks = [];
    this.#deflate?.close();
    this.#deflate = null;
    this.#syncDeflate = null;
    this.#deflateTask = null;
    this.#deflateChunks = [];
  }

  #requireNegotiated(): void {
    if (this.#negotiated === null) throw new Error('permessage-deflate has not been negotiated');
  }

  #enqueue(lane: Lane, task: Task, start: (task: Task) => void): void {
    if (this.#closed) return;
    lane.tasks.push(task);
    if (!lane.active) this.#next(lane, start);
  }

  #next(lane: Lane, start: (task: Task) => void): void {
    const task = lane.tasks.shift();
    if (task === undefined) return;
    lane.active = true;
    // The worker bounds what it holds itself; the limiter is for the thread pool.
    if (task.offload === true) {
      start(task);
      return;
    }
    this.#limiter.add((done) => {
      if (this.#closed) {
        done();
        return;
      }
      lane.release = done;
      start(task);
    });
  }

  #finish(lane: Lane, task: Task, err: Error | null, result: Buffer | undefined, start: (task: Task) => void): void {
    const release = lane.release;
    lane.release = null;
    lane.active = false;
    release?.();
    if (this.#closed) return;
    if (err) task.cb(err);
    else task.cb(null, result);
    if (!this.#closed && !lane.active) this.#next(lane, start);
  }

  // ---- inflate ----

  #finishInflate(task: Task, err: Error | null, result?: Buffer): void {
    this.#finish(this.#inflateLane, task, err, result, (t) => this.#startInflate(t));
  }

  #startInflate(task: Task): void {
    const failed = this.#inflateError;
    if (failed) {
      // Reached synchronously from decompress(); callbacks are always asynchronous.
      process.nextTick(() => this.#finishInflate(task, failed));
      return;
    }
    if (task.continued) {
      // The stream is where decompressNow() left it, and the lane kept everyone else off it since.
      const s = this.#inflate!;
      this.#inflateMidMessage = false;
      this.#inflateTask = task;
      s.write(task.data, () => this.#onInflateFlushed(s, task));
      return;
    }
    let stream = this.#inflate;
    // After a final block, zlib ignores input: the rest of that message is dropped (as zlib drops any
    // trailing bytes), and the next message starts a fresh stream.
    if (stream === null || (!this.#inflateMidMessage && inflaterEnded(stream))) {
      stream?.close();
      stream = this.#createInflate();
    }
    this.#inflateMidMessage = !task.fin;
    this.#inflateTask = task;
    const s = stream;
    const done = (): void => this.#onInflateFlushed(s, task);
    // Every write is a round trip to the zlib thread pool: one per message where the copy is cheap.
    if (!task.fin) s.write(task.data, done);
    else if (task.data.length <= JOIN_LIMIT)
      s.write(Buffer.concat([task.data, TAIL], task.data.length + TAIL.length), done);
    else {
      s.write(task.data);
      s.write(TAIL, done);
    }
  }

  #createInflate(): zlib.InflateRaw {
    const n = this.#negotiated as Negotiated;
    const peerBits = this.#isServer ? n.clientMaxWindowBits : n.serverMaxWindowBits;
    const stream = zlib.createInflateRaw({
      ...this.#options.zlibInflateOptions,
      windowBits: typeof peerBits === 'number' ? peerBits : DEFAULT_WINDOW_BITS,
      // Each write returns all the output its input allows; its callback then marks the message's end.
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
    stream.on('data', (chunk: Buffer) => this.#onInflateData(stream, chunk));
    stream.on('error', (err: Error) => this.#onInflateError(stream, err));
    stream.on('end', () => {
      // The peer ended its deflate stream (BFINAL); the next message starts a fresh one.
      if (this.#inflate === stream && this.#inflateTask === null && !this.#inflateMidMessage) {
        this.#inflate = null;
        stream.close();
      }
    });
    this.#inflate = stream;
    return stream;
  }

  #onInflateData(stream: zlib.InflateRaw, chunk: Buffer): void {
    const task = this.#inflateTask;
    if (this.#inflate !== stream || task === null) return;
    const error = this.#acceptInflated(chunk, task.check, false);
    if (error) this.#failInflate(error);
  }

  /**
   * One piece of a message's inflated output, from either path: counted against maxPayload, checked, kept
   * (`copy`: it is a view of a scratch buffer). Returns the error that fails the message, if any.
   */
  #acceptInflated(chunk: Buffer, check: InflateOutputCheck | undefined, copy: boolean): WebSocketError | null {
    this.#inflateSize += chunk.length;
    if (this.#maxPayload > 0 && this.#inflateSize > this.#maxPayload) {
      return new WebSocketError('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009, 'Max payload size exceeded');
    }
    const error = check?.(chunk);
    if (error) return error;
    this.#inflateChunks.push(copy ? Buffer.from(chunk) : chunk);
    return null;
  }

  #onInflateError(stream: zlib.InflateRaw, err: Error): void {
    if (this.#inflate !== stream) return;
    this.#failInflate(invalidCompressedData(err));
  }

  /** Stops inflating at once: the stream is destroyed, so no further input is processed. */
  #failInflate(err: WebSocketError): void {
    const stream = this.#inflate;
    const task = this.#inflateTask;
    this.#inflate = null;
    this.#inflateTask = null;
    this.#inflateChunks = [];
    this.#inflateSize = 0;
    this.#inflateMidMessage = false;
    this.#inflateError = err;
    stream?.close();
    if (task) this.#finishInflate(task, err);
  }

  #onInflateFlushed(stream: zlib.InflateRaw, task: Task): void {
    if (this.#inflate !== stream || this.#inflateTask !== task) return;
    this.#inflateTask = null;
    this.#syncInflated = 0;
    let result: Buffer = EMPTY;
    if (task.fin) {
      result = concat(this.#inflateChunks, this.#inflateSize);
      this.#inflateChunks = [];
      this.#inflateSize = 0;
      const n = this.#negotiated as Negotiated;
      if (inflaterEnded(stream)) {
        this.#inflate = null;
        stream.close();
      } else if (this.#isServer ? n.clientNoContextTakeover : n.serverNoContextTakeover) {
        stream.reset();
      }
    }
    this.#finishInflate(task, null, result);
  }

  // ---- deflate ----

  #finishDeflate(task: Task, err: Error | null, result?: Buffer): void {
    this.#finish(this.#deflateLane, task, err, result, (t) => this.#startDeflate(t));
  }

  #startDeflate(task: Task): void {
    if (task.offload === true) {
      offloadDeflate(task.data, this.#ownWindowBits(), this.#options.zlibDeflateOptions, (err, result) => {
        if (!this.#closed) this.#finishDeflate(task, err, result);
      });
      return;
    }
    const stream = this.#deflate ?? this.#createDeflate();
    this.#deflateTask = task;
    // Writes are sync-flushed (see #createDeflate), an empty one too: one thread-pool round trip per message.
    stream.write(task.data, () => this.#onDeflateFlushed(stream, task));
  }

  #createDeflate(): zlib.DeflateRaw {
    const windowBits = this.#ownWindowBits();
    // Z_SYNC_FLUSH on every write: the output of a message is complete (ending in 00 00 ff ff) when the
    // write's callback runs, without a separate flush call.
    const stream = zlib.createDeflateRaw({
      ...this.#options.zlibDeflateOptions,
      windowBits,
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#deflate !== stream || this.#deflateTask === null) return;
      this.#deflateChunks.push(chunk);
      this.#deflateSize += chunk.length;
    });
    stream.on('error', (err: Error) => {
      if (this.#deflate !== stream) return;
      const task = this.#deflateTask;
      this.#deflate = null;
      this.#deflateTask = null;
      this.#deflateChunks = [];
      this.#deflateSize = 0;
      stream.close();
      if (task) this.#finishDeflate(task, err);
    });
    this.#deflate = stream;
    return stream;
  }

  /** The window of this side's compressor. */
  #ownWindowBits(): number {
    const n = this.#negotiated as Negotiated;
    const ownBits = this.#isServer ? n.serverMaxWindowBits : n.clientMaxWindowBits;
    let windowBits = typeof ownBits === 'number' ? ownBits : DEFAULT_WINDOW_BITS;
    // A smaller window than negotiated is always allowed to the compressor.
    const configured = this.#options.zlibDeflateOptions?.windowBits;
    if (typeof configured === 'number' && configured >= 9 && configured < windowBits) windowBits = configured;
    // zlib cannot deflate raw with a 256-byte window and silently uses 512; that output still never
    // refers further back than 250 bytes (window minus lookahead), so it is valid for an 8-bit peer.
    if (windowBits === 8) windowBits = 9;
    return windowBits;
  }

  #onDeflateFlushed(stream: zlib.DeflateRaw, task: Task): void {
    if (this.#deflate !== stream || this.#deflateTask !== task) return;
    this.#deflateTask = null;
    let result = concat(this.#deflateChunks, this.#deflateSize);
    this.#deflateChunks = [];
    this.#deflateSize = 0;
    if (task.fin) {
      // A sync flush always ends with the empty stored block 00 00 ff ff, which the wire format omits.
      result = result.subarray(0, result.length - TAIL.length);
      const n = this.#negotiated as Negotiated;
      if (this.#isServer ? n.serverNoContextTakeover : n.clientNoContextTakeover) stream.reset();
    }
    this.#finishDeflate(task, null, result);
  }
}
