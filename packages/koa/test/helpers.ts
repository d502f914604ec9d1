import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import WebSocket, { type ClientOptions } from 'ws';

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

export async function listening(server: Server): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  return portOf(server);
}

interface Inbox {
  queue: string[];
  waiters: ((message: string) => void)[];
}
// A message can arrive in the same chunk as the 101 and be emitted right after 'open', before the
// test's next line runs: every client records its messages from the start.
const inboxes = new WeakMap<WebSocket, Inbox>();

/** Opens a client; rejects with `{ status, body }` when the server answers with plain HTTP. */
export function open(url: string, protocols?: string[], options: ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    const inbox: Inbox = { queue: [], waiters: [] };
    inboxes.set(ws, inbox);
    ws.on('message', (data: Buffer) => {
      const waiter = inbox.waiters.shift();
      if (waiter) waiter(data.toString());
      else inbox.queue.push(data.toString());
    });
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

export function nextMessage(ws: WebSocket): Promise<string> {
  const inbox = inboxes.get(ws);
  if (!inbox) throw new Error('not a client made by open()');
  const queued = inbox.queue.shift();
  if (queued !== undefined) return Promise.resolve(queued);
  return new Promise((resolve) => inbox.waiters.push(resolve));
}

export async function messages(ws: WebSocket, count: number): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < count; i++) got.push(await nextMessage(ws));
  return got;
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed'));
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
