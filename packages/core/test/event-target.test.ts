import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws';
import {
  addEventListener,
  CloseEvent,
  defineEventHandlers,
  ErrorEvent,
  Event,
  type EventListenerLike,
  MessageEvent,
  removeEventListener,
} from '../src/event-target.js';

/** The WHATWG surface as a socket class exposes it once the helpers are installed. */
interface EventTargetSurface {
  addEventListener(type: string, listener: EventListenerLike, options?: { once?: boolean }): void;
  removeEventListener(type: string, listener: EventListenerLike): void;
  onopen: EventListenerLike | null;
  onmessage: EventListenerLike | null;
  onclose: EventListenerLike | null;
  onerror: EventListenerLike | null;
}

class FakeSocket extends EventEmitter {
  binaryType = 'nodebuffer';
}
interface FakeSocket extends EventTargetSurface {}
Object.assign(FakeSocket.prototype, { addEventListener, removeEventListener });
defineEventHandlers(FakeSocket.prototype);

describe('event classes', () => {
  test('carry their fields and a null target until dispatched', () => {
    expect(new Event('open')).toMatchObject({ type: 'open', target: null });
    expect(new MessageEvent('message', { data: 'x' })).toMatchObject({ type: 'message', data: 'x' });
    expect(new CloseEvent('close', { code: 1000, reason: 'bye', wasClean: true })).toMatchObject({
      code: 1000,
      reason: 'bye',
      wasClean: true,
    });
    const error = new Error('e');
    expect(new ErrorEvent('error', { error, message: 'e' })).toMatchObject({ error, message: 'e' });
    expect(new CloseEvent('close')).toMatchObject({ code: 0, reason: '', wasClean: false });
    expect(new MessageEvent('message')).toBeInstanceOf(Event);
  });
});

describe('helpers on an EventEmitter', () => {
  test('function and handleEvent listeners receive typed events with target set', () => {
    const s = new FakeSocket();
    const seen: Event[] = [];
    const fnThis: unknown[] = [];
    s.addEventListener('open', function (this: unknown, e: Event) {
      fnThis.push(this);
      seen.push(e);
    });
    const obj = {
      calls: 0,
      handleEvent(this: { calls: number }, e: Event) {
        this.calls++;
        seen.push(e);
      },
    };
    s.addEventListener('open', obj);
    s.emit('open');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeInstanceOf(Event);
    expect(seen[0]!.type).toBe('open');
    expect(seen[0]!.target).toBe(s);
    expect(fnThis[0]).toBe(s);
    expect(obj.calls).toBe(1);
  });

  test('adding the same listener twice is a no-op; once works', () => {
    const s = new FakeSocket();
    const calls: string[] = [];
    const fn = (e: Event): void => void calls.push(`fn:${e.type}`);
    s.addEventListener('message', fn);
    s.addEventListener('message', fn);
    const onceFn = (): void => void calls.push('once');
    s.addEventListener('message', onceFn, { once: true });
    expect(s.listenerCount('message')).toBe(2);
    s.emit('message', Buffer.from('a'), false);
    s.emit('message', Buffer.from('b'), false);
    expect(calls).toEqual(['fn:message', 'once', 'fn:message']);
    // A once-listener that fired can be added again.
    s.addEventListener('message', onceFn, { once: true });
    expect(s.listenerCount('message')).toBe(2);
  });

  test('removeEventListener removes only listeners added through addEventListener', () => {
    const s = new FakeSocket();
    const calls: string[] = [];
    const fn = (): void => void calls.push('x');
    s.on('message', fn);
    s.addEventListener('message', fn);
    s.removeEventListener('message', fn);
    expect(s.listeners('message')).toEqual([fn]);
    s.emit('message', Buffer.from('a'), false);
    expect(calls).toEqual(['x']);
    // A once-listener can be removed before it fires.
    const onceFn = (): void => void calls.push('once');
    s.addEventListener('close', onceFn, { once: true });
    s.removeEventListener('close', onceFn);
    s.emit('close', 1000, Buffer.alloc(0));
    expect(calls).toEqual(['x']);
    // The onmessage handler is not removable through removeEventListener.
    s.onmessage = fn;
    s.removeEventListener('message', fn);
    expect(s.onmessage).toBe(fn);
  });

  test('removeAllListeners() does not leave stale registrations behind', () => {
    const s = new FakeSocket();
    let n = 0;
    const fn = (): void => void n++;
    s.addEventListener('open', fn);
    s.removeAllListeners('open');
    s.addEventListener('open', fn);
    s.emit('open');
    expect(n).toBe(1);
  });

  test('on<type> handlers: getter, replacement, null clears, non-functions ignored', () => {
    const s = new FakeSocket();
    const calls: string[] = [];
    expect(s.onmessage).toBeNull();
    const a = (): void => void calls.push('a');
    const b = (): void => void calls.push('b');
    s.onmessage = a;
    expect(s.onmessage).toBe(a);
    s.onmessage = b;
    expect(s.onmessage).toBe(b);
    s.emit('message', Buffer.from('x'), false);
    expect(calls).toEqual(['b']);
    expect(s.listenerCount('message')).toBe(1);
    s.onmessage = null;
    expect(s.onmessage).toBeNull();
    expect(s.listenerCount('message')).toBe(0);
    s.onclose = 'nope' as unknown as EventListenerLike;
    expect(s.onclose).toBeNull();
    for (const type of ['open', 'error', 'close'] as const) {
      const key = `on${type}` as const;
      s[key] = a;
      expect(s[key]).toBe(a);
    }
    // Accessors live on the prototype, one per event type.
    expect(Object.getOwnPropertyDescriptor(FakeSocket.prototype, 'onerror')?.get).toBeInstanceOf(Function);
  });

  test('message data: text as string, binary per binaryType read at dispatch time', () => {
    const s = new FakeSocket();
    const got: unknown[] = [];
    s.addEventListener('message', (e: MessageEvent) => void got.push(e.data));
    s.emit('message', Buffer.from('héllo'), false);
    s.emit('message', Buffer.from([1, 2, 3]), true);
    s.binaryType = 'arraybuffer';
    // A pooled Buffer: the ArrayBuffer must hold only its bytes.
    const pooled = Buffer.from([4, 5]);
    s.emit('message', pooled, true);
    // Emitter already converted (as `ws` does): passed through.
    const ab = new Uint8Array([6]).buffer;
    s.emit('message', ab, true);
    s.binaryType = 'nodebuffer';
    s.emit('message', new Uint8Array([7, 8]).buffer, true);
    s.binaryType = 'fragments';
    s.emit('message', [Buffer.from([9]), Buffer.from([10])], true);

    expect(got[0]).toBe('héllo');
    expect(Buffer.isBuffer(got[1])).toBe(true);
    expect([...(got[1] as Buffer)]).toEqual([1, 2, 3]);
    expect(got[2]).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(got[2] as ArrayBuffer)]).toEqual([4, 5]);
    expect(got[3]).toBe(ab);
    expect(Buffer.isBuffer(got[4])).toBe(true);
    expect([...(got[4] as Buffer)]).toEqual([7, 8]);
    expect((got[5] as Buffer[]).map((b) => b[0])).toEqual([9, 10]);
  });

  test("binaryType 'blob' delivers a Blob with the message bytes", async () => {
    const s = new FakeSocket();
    s.binaryType = 'blob';
    const got: unknown[] = [];
    s.addEventListener('message', (e: MessageEvent) => void got.push(e.data));
    s.emit('message', Buffer.from([1, 2]), true);
    expect(got[0]).toBeInstanceOf(Blob);
    expect([...new Uint8Array(await (got[0] as Blob).arrayBuffer())]).toEqual([1, 2]);
  });

  test('close events carry code, reason string and wasClean; error events carry error and message', () => {
    const s = new FakeSocket();
    const closes: CloseEvent[] = [];
    const errors: ErrorEvent[] = [];
    s.onclose = (e: CloseEvent) => void closes.push(e);
    s.onerror = (e: ErrorEvent) => void errors.push(e);
    s.emit('close', 1000, Buffer.from('bye'));
    s.emit('close', 1006, Buffer.alloc(0));
    const err = new Error('kaput');
    s.emit('error', err);
    expect(closes[0]).toBeInstanceOf(CloseEvent);
    expect(closes[0]).toMatchObject({ type: 'close', code: 1000, reason: 'bye', wasClean: true, target: s });
    expect(closes[1]).toMatchObject({ code: 1006, reason: '', wasClean: false });
    expect(errors[0]).toBeInstanceOf(ErrorEvent);
    expect(errors[0]).toMatchObject({ type: 'error', error: err, message: 'kaput', target: s });
  });

  test('every data form an emitter may use becomes the WHATWG form; events without details get the defaults', async () => {
    const s = new FakeSocket();
    const data: unknown[] = [];
    const closes: CloseEvent[] = [];
    const errors: ErrorEvent[] = [];
    s.addEventListener('message', (e: MessageEvent) => void data.push(e.data));
    s.onclose = (e: CloseEvent) => void closes.push(e);
    s.onerror = (e: ErrorEvent) => void errors.push(e);
    // Text in binary forms (fragments, an ArrayBuffer) is still a string.
    s.emit('message', [Buffer.from('frag'), Buffer.from('ments')], false);
    s.emit('message', new TextEncoder().encode('buffer').buffer, false);
    // A view over a larger ArrayBuffer: only its bytes.
    s.binaryType = 'arraybuffer';
    s.emit('message', new Uint8Array([0, 1, 2, 3]).subarray(1, 3), true);
    s.binaryType = 'fragments';
    s.emit('message', Buffer.from([4]), true);
    s.binaryType = 'blob';
    const blob = new Blob([new Uint8Array([5])]);
    s.emit('message', blob, true);
    expect(() => s.emit('message', 42, true)).toThrow(TypeError);
    expect(data[0]).toBe('fragments');
    expect(data[1]).toBe('buffer');
    expect([...new Uint8Array(data[2] as ArrayBuffer)]).toEqual([1, 2]);
    expect(data[3]).toEqual([Buffer.from([4])]);
    expect(data[4]).toBe(blob);
    // arraybuffer: a Buffer spanning its whole ArrayBuffer hands that ArrayBuffer over (no copy); a string
    // emitted as binary becomes its UTF-8 bytes.
    s.binaryType = 'arraybuffer';
    const whole = new ArrayBuffer(3);
    s.emit('message', Buffer.from(whole), true);
    s.emit('message', 'hé', true);
    expect(data[5]).toBe(whole);
    expect(Buffer.from(data[6] as ArrayBuffer).toString()).toBe('hé');

    s.emit('close');
    s.emit('close', 1015, 'tls');
    expect(closes[0]).toMatchObject({ code: 1005, reason: '', wasClean: true });
    expect(closes[1]).toMatchObject({ code: 1015, reason: 'tls', wasClean: false });
    s.emit('error', 'not an Error');
    expect(errors[0]).toMatchObject({ error: 'not an Error', message: 'not an Error' });
    expect(new ErrorEvent('error')).toMatchObject({ error: null, message: '' });
    expect(new CloseEvent('close')).toMatchObject({ code: 0, reason: '', wasClean: false });
  });

  test('unknown event types are ignored', () => {
    const s = new FakeSocket();
    s.addEventListener('ping', () => {});
    expect(s.listenerCount('ping')).toBe(0);
  });
});

describe('helpers installed on a subclass of ws WebSocket, end to end', () => {
  class PatchedWebSocket extends WsWebSocket {}
  Object.assign(PatchedWebSocket.prototype, { addEventListener, removeEventListener });
  defineEventHandlers(PatchedWebSocket.prototype);

  test('open, text and binary messages per binaryType, close with reason', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    wss.on('connection', (peer) => {
      peer.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() === 'go') {
          peer.send('text');
          peer.send(Buffer.from([1, 2, 3]));
          peer.close(4000, 'done');
        }
      });
    });
    try {
      const client = new PatchedWebSocket(`ws://127.0.0.1:${port}`);
      client.binaryType = 'arraybuffer';
      const surface = client as unknown as EventTargetSurface;
      const events: Event[] = [];
      const closed = new Promise<CloseEvent>((resolve) => {
        surface.onclose = (e: CloseEvent) => resolve(e);
      });
      surface.onopen = () => client.send('go');
      surface.addEventListener('message', (e: Event) => void events.push(e));
      const close = await closed;
      expect(events).toHaveLength(2);
      expect((events[0] as MessageEvent).data).toBe('text');
      expect((events[1] as MessageEvent).data).toBeInstanceOf(ArrayBuffer);
      expect([...new Uint8Array((events[1] as MessageEvent).data as ArrayBuffer)]).toEqual([1, 2, 3]);
      expect(events[0]!.target).toBe(client);
      expect(close).toBeInstanceOf(CloseEvent);
      expect(close).toMatchObject({ code: 4000, reason: 'done', wasClean: true });
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  test('a terminated connection reports wasClean false', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    wss.on('connection', (peer) => peer.terminate());
    try {
      const client = new PatchedWebSocket(`ws://127.0.0.1:${port}`);
      const close = await new Promise<CloseEvent>((resolve) => {
        (client as unknown as EventTargetSurface).addEventListener('close', (e: CloseEvent) => resolve(e));
      });
      expect(close).toMatchObject({ code: 1006, wasClean: false });
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
