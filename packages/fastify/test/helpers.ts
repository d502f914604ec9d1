/** Test helpers: listen on an ephemeral loopback port, connect a client, await messages and closes. */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, type ClientOptions } from '@wskit/core';
import type { FastifyInstance } from 'fastify';
import { collect } from '../../../test/helpers/inbox.js';

export { collect, messages, nextMessage } from '../../../test/helpers/inbox.js';

export async function listen(app: FastifyInstance): Promise<{ ws: string; http: string }> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { ws: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}` };
}

export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: IncomingMessage['headers'],
  ) {
    super(`refused with ${status}`);
  }
}

/** Opens a client; rejects with `Refused` (status and body) when the server answered with plain HTTP. */
export function connect(url: string, protocols?: string | string[], options: ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = collect(new WebSocket(url, protocols, options));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req: unknown, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(new Refused(res.statusCode ?? 0, Buffer.concat(chunks).toString(), res.headers)));
    });
  });
}

export async function refusal(promise: Promise<WebSocket>): Promise<Refused> {
  try {
    const ws = await promise;
    ws.terminate();
  } catch (error) {
    if (error instanceof Refused) return error;
    throw error;
  }
  throw new Error('the upgrade was accepted');
}

export function closed(ws: WebSocket, timeout = 5000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) reject(new Error('already closed'));
    const timer = setTimeout(() => reject(new Error('not closed')), timeout);
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}
