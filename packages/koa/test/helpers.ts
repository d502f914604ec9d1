import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import http, { type Server } from 'node:http';
import type Koa from 'koa';
import { websocket, type KoaWebSocketMiddleware, type KoaWebSocketOptions } from '@wskit/koa';
import WebSocket, { type ClientOptions } from 'ws';
import { collect } from '../../../test/helpers/inbox.js';

export { messages, nextMessage } from '../../../test/helpers/inbox.js';

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

export async function listening(server: Server): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  return portOf(server);
}

// A message can arrive in the same chunk as the 101 and be emitted right after 'open', before the
// test's next line runs: every client records its messages from the start (collect).
/** Opens a client; rejects with `{ status, body }` when the server answers with plain HTTP. */
export function open(url: string, protocols?: string[], options: ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = collect(new WebSocket(url, protocols, options));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

export interface Refusal {
  status: number;
  body: string;
}

export async function refusal(url: string, options: ClientOptions = {}): Promise<Refusal> {
  try {
    const ws = await open(url, undefined, options);
    ws.terminate();
  } catch (error) {
    const e = error as Partial<Refusal> & Error;
    if (typeof e.status === 'number') return { status: e.status, body: e.body ?? '' };
    throw error;
  }
  throw new Error('the upgrade was accepted');
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed'));
  return new Promise((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What `serveKoa` started: the app, the plugin, the server and its ws:// and http:// bases. */
export interface KoaHarness<A> {
  app: A;
  ws: KoaWebSocketMiddleware;
  server: http.Server;
  base: string;
  http: string;
}

/**
 * `app` (a Koa 2 or 3 class) with the plugin first and `setup` adding the rest, served by
 * createServer(app.callback()) + attach on a free port; `cleanups` gets the matching teardown.
 */
export async function serveKoa<A extends Koa>(
  KoaClass: new () => A,
  setup: (app: A, ws: KoaWebSocketMiddleware) => void,
  options: KoaWebSocketOptions | undefined,
  cleanups: (() => Promise<void> | void)[],
): Promise<KoaHarness<A>> {
  const app = new KoaClass();
  app.silent = true;
  const ws = websocket(options);
  app.use(ws);
  setup(app, ws);
  const server = http.createServer(app.callback());
  ws.attach(server);
  server.listen(0, '127.0.0.1');
  const port = await listening(server);
  cleanups.push(async () => {
    await ws.close({ timeout: 200 });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { app, ws, server, base: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}` };
}
