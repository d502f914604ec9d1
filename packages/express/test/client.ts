/** Test client helpers: open a socket or read the HTTP refusal, and await messages/closes in order. */
import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from '@wskit/core';

export interface Refusal {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

export class TestClient {
  readonly messages: string[] = [];
  private waiters: (() => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.messages.push(isBinary ? `<binary ${(data as Buffer).length}>` : data.toString());
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('error', () => {});
  }

  /** Resolves with the n-th message (0-based) once it has arrived. */
  async message(index: number, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length <= index) {
      if (Date.now() > deadline)
        throw new Error(`message ${index} did not arrive; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages[index]!;
  }

  async json<T>(index: number): Promise<T> {
    return JSON.parse(await this.message(index)) as T;
  }
}

/** Opens a socket; resolves with a client, or with the HTTP response that refused the handshake. */
export function connect(
  url: string,
  options: ClientOptions & { protocols?: string[]; onOpen?: (ws: WebSocket) => void } = {},
): Promise<TestClient | Refusal> {
  const { protocols, onOpen, ...clientOptions } = options;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols ?? [], clientOptions);
    const client = new TestClient(ws);
    ws.once('open', () => {
      onOpen?.(ws);
      resolve(client);
    });
    ws.once('unexpected-response', (req: { destroy(): void }, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
      res.on('error', reject);
    });
    ws.once('error', (error: Error) => reject(error));
  });
}

export async function open(url: string, options?: Parameters<typeof connect>[1]): Promise<TestClient> {
  const result = await connect(url, options);
  if (!(result instanceof TestClient)) throw new Error(`expected a socket, got HTTP ${result.status}: ${result.body}`);
  return result;
}

export async function refused(url: string, options?: Parameters<typeof connect>[1]): Promise<Refusal> {
  const result = await connect(url, options);
  if (result instanceof TestClient) {
    result.ws.terminate();
    throw new Error('expected the handshake to be refused, but it was accepted');
  }
  return result;
}
