/**
 * The WHATWG WebSocket event surface (addEventListener, onmessage, ...) layered over an EventEmitter that
 * emits the `ws`-style events: 'open', 'message'(data, isBinary), 'close'(code, reason), 'error'(err).
 *
 * Listeners are stored as ordinary emitter listeners wrapped in a function that builds the event object;
 * the wrapper carries the user's listener under a symbol, so lookups go through `emitter.listeners()`
 * and stay correct even after `removeAllListeners()`.
 */
import type { EventEmitter } from 'node:events';

export type MessageData = string | Buffer | ArrayBuffer | Buffer[] | Blob;

let setTarget: (event: Event, target: unknown) => void;

export class Event {
  readonly #type: string;
  #target: unknown = null;

  static {
    setTarget = (event, target) => {
      event.#target = target;
    };
  }

  constructor(type: string) {
    this.#type = type;
  }

  /** The socket that dispatched the event; null until dispatched. */
  get target(): unknown {
    return this.#target;
  }

  get type(): string {
    return this.#type;
  }
}

export class MessageEvent extends Event {
  // null only for an event built without data (the WHATWG default); dispatched events always carry data.
  readonly #data: MessageData | null;
  constructor(type: string, init: { data?: MessageData } = {}) {
    super(type);
    this.#data = init.data ?? null;
  }

  get data(): MessageData {
    return this.#data as MessageData;
  }
}

export class CloseEvent extends Event {
  readonly #code: number;
  readonly #reason: string;
  readonly #wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.#code = init.code ?? 0;
    this.#reason = init.reason ?? '';
    this.#wasClean = init.wasClean ?? false;
  }

  get code(): number {
    return this.#code;
  }

  get reason(): string {
    return this.#reason;
  }

  get wasClean(): boolean {
    return this.#wasClean;
  }
}

export class ErrorEvent extends Event {
  readonly #error: unknown;
  readonly #message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.#error = init.error ?? null;
    this.#message = init.message ?? '';
  }

  get error(): unknown {
    return this.#error;
  }

  get message(): string {
    return this.#message;
  }
}

// As on the WHATWG interfaces (and in ws), the event attributes are enumerable accessors of the prototype.
for (const [proto, names] of [
  [Event.prototype, ['target', 'type']],
  [MessageEvent.prototype, ['data']],
  [CloseEvent.prototype, ['code', 'reason', 'wasClean']],
  [ErrorEvent.prototype, ['error', 'message']],
] as const) {
  for (const name of names) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor) Object.defineProperty(proto, name, { ...descriptor, enumerable: true });
  }
}

// Method syntax keeps parameters bivariant, so `(e: MessageEvent) => void` is accepted as a listener.
type EventListenerFn = { bivarianceHack(event: Event): void }['bivarianceHack'];
export type EventListenerLike = EventListenerFn | { handleEvent(event: Event): void };

type EventSource = EventEmitter & { binaryType: string };
type EventType = 'open' | 'message' | 'close' | 'error';
const EVENT_TYPES: readonly EventType[] = ['open', 'message', 'close', 'error'];

const kListener = Symbol('wskit.listener');
const kHandlerAttribute = Symbol('wskit.handlerAttribute');

interface Wrapper {
  (...args: unknown[]): void;
  [kListener]: EventListenerLike;
  /** True for the wrapper behind an `on<type>` property. */
  [kHandlerAttribute]: boolean;
}

function isEventType(type: string): type is EventType {
  return (EVENT_TYPES as readonly string[]).includes(type);
}

function findWrapper(
  emitter: EventEmitter,
  type: string,
  attribute: boolean,
  listener?: EventListenerLike,
): Wrapper | undefined {
  for (const fn of emitter.listeners(type)) {
    const candidate = fn as Partial<Wrapper>;
    if (candidate[kHandlerAttribute] !== attribute) continue;
    if (listener === undefined || candidate[kListener] === listener) return candidate as Wrapper;
  }
  return undefined;
}

function dispatch(source: EventEmitter, listener: EventListenerLike, event: Event): void {
  setTarget(event, source);
  if (typeof listener === 'function') listener.call(source, event);
  else listener.handleEvent(event);
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (typeof data === 'string') return Buffer.from(data);
  throw new TypeError('unsupported message data');
}

function toArrayBuffer(data: unknown): ArrayBuffer {
  if (data instanceof ArrayBuffer) return data;
  const buf = toBuffer(data);
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) {
    return buf.buffer;
  }
  // Small buffers share a pooled ArrayBuffer; hand out only this message's bytes.
  return new Uint8Array(buf).slice().buffer;
}

function textData(data: unknown): string {
  return typeof data === 'string' ? data : toBuffer(data).toString('utf8');
}

/** Binary payloads are delivered in the socket's current binaryType, whatever form the emitter used. */
function binaryData(data: unknown, binaryType: string): MessageData {
  switch (binaryType) {
    case 'arraybuffer':
      return toArrayBuffer(data);
    case 'fragments':
      return Array.isArray(data) ? (data as Buffer[]) : [toBuffer(data)];
    case 'blob':
      return data instanceof Blob ? data : new Blob([new Uint8Array(toBuffer(data))]);
    default:
      return toBuffer(data);
  }
}

function createWrapper(source: EventSource, type: EventType, listener: EventListenerLike, attribute: boolean): Wrapper {
  let wrapper: (...args: unknown[]) => void;
  switch (type) {
    case 'open':
      wrapper = () => dispatch(source, listener, new Event('open'));
      break;
    case 'message':
      wrapper = (data: unknown, isBinary: unknown) => {
        const payload = isBinary ? binaryData(data, source.binaryType) : textData(data);
        dispatch(source, listener, new MessageEvent('message', { data: payload }));
      };
      break;
    case 'close':
      wrapper = (code: unknown, reason: unknown) => {
        const closeCode = typeof code === 'number' ? code : 1005;
        dispatch(
          source,
          listener,
          new CloseEvent('close', {
            code: closeCode,
            reason: reason === undefined ? '' : textData(reason),
            // The emitter reports 1006 (or 1015 for TLS) exactly when the closing handshake did not complete.
            wasClean: closeCode !== 1006 && closeCode !== 1015,
          }),
        );
      };
      break;
    case 'error':
      wrapper = (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        dispatch(source, listener, new ErrorEvent('error', { error, message }));
      };
      break;
  }
  return Object.assign(wrapper, { [kListener]: listener, [kHandlerAttribute]: attribute });
}

function isListener(listener: unknown): listener is EventListenerLike {
  return (
    typeof listener === 'function' ||
    (typeof listener === 'object' &&
      listener !== null &&
      typeof (listener as { handleEvent?: unknown }).handleEvent === 'function')
  );
}

/** WHATWG addEventListener for the socket's four event types; other types are ignored. */
export function addEventListener(
  this: EventSource,
  type: string,
  listener: EventListenerLike,
  options: { once?: boolean } = {},
): void {
  if (!isEventType(type) || !isListener(listener)) return;
  if (findWrapper(this, type, false, listener) !== undefined) return;
  const wrapper = createWrapper(this, type, listener, false);
  if (options.once) this.once(type, wrapper);
  else this.on(type, wrapper);
}

/** Removes a listener added with addEventListener; listeners added with on() are left alone. */
export function removeEventListener(this: EventEmitter, type: string, listener: EventListenerLike): void {
  const wrapper = findWrapper(this, type, false, listener);
  if (wrapper !== undefined) this.removeListener(type, wrapper);
}

/** Defines the onopen/onmessage/onerror/onclose accessors on a socket class prototype. */
export function defineEventHandlers(proto: object): void {
  for (const type of EVENT_TYPES) {
    Object.defineProperty(proto, `on${type}`, {
      configurable: true,
      enumerable: true,
      get(this: EventSource): EventListenerLike | null {
        return findWrapper(this, type, true)?.[kListener] ?? null;
      },
      set(this: EventSource, handler: unknown): void {
        for (let old = findWrapper(this, type, true); old !== undefined; old = findWrapper(this, type, true)) {
          this.removeListener(type, old);
        }
        if (typeof handler === 'function') this.on(type, createWrapper(this, type, handler as EventListenerFn, true));
      },
    });
  }
}
