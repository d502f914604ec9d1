/**
 * Browser-style code runs unchanged against our client: on<event> handlers, addEventListener with
 * once, binaryType 'arraybuffer', and close events with code/reason/wasClean. The "page" functions below
 * use only what a browser WebSocket offers.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocket, WebSocketServer } from '@wskit/core';

/** The subset of the browser WebSocket interface the page code uses. */
interface BrowserWebSocket {
  binaryType: string;
  readyState: number;
  onopen: ((event: { type: string }) => void) | null;
  onmessage: ((event: { type: string; data: unknown }) => void) | null;
  onclose: ((event: { type: string; code: number; reason: string; wasClean: boolean }) => void) | null;
  onerror: ((event: { type: string }) => void) | null;
  addEventListener(
    type: string,
    listener: (event: { type: string; data?: unknown }) => void,
    options?: { once?: boolean },
  ): void;
  removeEventListener(type: string, listener: (event: { type: string; data?: unknown }) => void): void;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}
type BrowserWebSocketCtor = new (url: string) => BrowserWebSocket;

// ─── "page" code: what one would write for a browser ──────────────────────

function chatPage(Ctor: BrowserWebSocketCtor, url: string): Promise<string[]> {
  return new Promise((resolve) => {
    const log: string[] = [];
    const ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = (e) => {
      log.push(`${e.type} ${ws.readyState}`);
      ws.send('hello');
      ws.send(new Uint8Array([1, 2, 3]).buffer);
    };
    ws.addEventListener('message', (e) => log.push(`first-only ${typeof e.data}`), { once: true });
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') log.push(`text ${e.data}`);
      else if (e.data instanceof ArrayBuffer) log.push(`arraybuffer ${Array.from(new Uint8Array(e.data)).join(',')}`);
      else log.push(`unexpected ${Object.prototype.toString.call(e.data)}`);
      if (log.filter((l) => l.startsWith('text ') || l.startsWith('arraybuffer ')).length === 2) ws.close(4000, 'bye');
    };
    ws.onerror = (e) => log.push(e.type);
    ws.onclose = (e) => {
      log.push(`${e.type} ${e.code} ${e.reason} ${e.wasClean} ${ws.readyState}`);
      resolve(log);
    };
  });
}

function handlerPage(Ctor: BrowserWebSocketCtor, url: string): Promise<string[]> {
  return new Promise((resolve) => {
    const log: string[] = [];
    const ws = new Ctor(url);
    const removed = (): void => void log.push('removed listener ran');
    ws.addEventListener('message', removed);
    ws.removeEventListener('message', removed);
    ws.onmessage = () => log.push('replaced handler ran');
    ws.onmessage = (e) => {
      log.push(`handler ${String(e.data)}`);
      if (String(e.data) === 'three') ws.close();
    };
    ws.addEventListener('message', (e) => log.push(`listener ${String(e.data)}`));
    ws.onopen = () => {
      ws.send('one');
      ws.send('two');
      ws.send('three');
    };
    ws.onclose = (e) => {
      log.push(`close ${e.code} ${e.wasClean}`);
      resolve(log);
    };
  });
}

function failingPage(Ctor: BrowserWebSocketCtor, url: string): Promise<string[]> {
  return new Promise((resolve) => {
    const log: string[] = [];
    const ws = new Ctor(url);
    ws.onopen = () => log.push('open');
    ws.onerror = (e) => log.push(e.type);
    ws.onclose = (e) => {
      log.push(`close ${e.code} ${e.wasClean}`);
      resolve(log);
    };
  });
}

// ─── harness ──────────────────────────────────────────────────────────────

const Client = WebSocket as unknown as BrowserWebSocketCtor;

async function echoServer(): Promise<{ url: string; server: WsServer; stop: () => Promise<void> }> {
  const server = new WsServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    server,
    stop: async () => {
      for (const c of server.clients) c.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('browser-style code against the wskit client', () => {
  test('onopen/onmessage/onclose, once listener, ArrayBuffer data, clean close with code and reason', async () => {
    const { url, stop } = await echoServer();
    try {
      expect(await chatPage(Client, url)).toEqual([
        'open 1',
        'first-only string',
        'text hello',
        'arraybuffer 1,2,3',
        'close 4000 bye true 3',
      ]);
    } finally {
      await stop();
    }
  });

  test('a removed listener never runs, assigning onmessage replaces the handler, listeners keep order', async () => {
    const { url, stop } = await echoServer();
    try {
      expect(await handlerPage(Client, url)).toEqual([
        'handler one',
        'listener one',
        'handler two',
        'listener two',
        'handler three',
        'listener three',
        'close 1005 true',
      ]);
    } finally {
      await stop();
    }
  });

  test('a refused connection: onerror then onclose 1006, not clean; no open', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    expect(await failingPage(Client, `ws://127.0.0.1:${port}/`)).toEqual(['error', 'close 1006 false']);
  });

  test('a connection the server drops: onclose 1006, not clean', async () => {
    const { url, server, stop } = await echoServer();
    server.on('connection', (ws) => setTimeout(() => ws.terminate(), 20));
    try {
      expect(await failingPage(Client, url)).toEqual(['open', 'close 1006 false']);
    } finally {
      await stop();
    }
  });

  test('event objects carry type and target like the DOM ones', async () => {
    const { url, stop } = await echoServer();
    try {
      const ws = new WebSocket(url);
      const opened = new Promise<{ type: string; target: unknown }>((resolve) =>
        ws.addEventListener('open', (e) => resolve(e as never), { once: true }),
      );
      const event = await opened;
      expect(event.type).toBe('open');
      expect(event.target).toBe(ws);
      const message = new Promise<{ type: string; data: unknown; target: unknown }>(
        (resolve) => (ws.onmessage = (e) => resolve(e as never)),
      );
      ws.send('ping me');
      const m = await message;
      expect(m).toMatchObject({ type: 'message', data: 'ping me' });
      expect(m.target).toBe(ws);
      ws.close();
      await once(ws, 'close');
    } finally {
      await stop();
    }
  });
});

describe("binaryType 'blob'", () => {
  test('binary messages arrive as a Blob, text still as a Buffer (as in ws 8.18+)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    wss.on('connection', (ws) => {
      ws.send(Buffer.from([9, 8, 7]));
      ws.send('text');
    });
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    client.binaryType = 'blob';
    expect(client.binaryType).toBe('blob');
    const got: Array<[unknown, boolean]> = [];
    await new Promise<void>((resolve) =>
      client.on('message', (data: unknown, isBinary: boolean) => {
        got.push([data, isBinary]);
        if (got.length === 2) resolve();
      }),
    );
    expect(got[0]![0]).toBeInstanceOf(Blob);
    expect([...new Uint8Array(await (got[0]![0] as Blob).arrayBuffer())]).toEqual([9, 8, 7]);
    expect(Buffer.isBuffer(got[1]![0])).toBe(true);
    expect(String(got[1]![0])).toBe('text');
    client.terminate();
    await new Promise((r) => wss.close(r));
  });
});
