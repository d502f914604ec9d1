// Test client helpers: a `ws` client with a message queue, and upgrade attempts that report the HTTP answer.
import WebSocket from 'ws';

/**
 * The Nest major these tests run on: 12 from the root, 11 in jest's 'nest 11' project, which maps every
 * @nestjs/* import (this one included) to test/nest11.
 */
export const nestMajor = Number((require('@nestjs/core/package.json') as { version: string }).version.split('.')[0]);

export interface TestClient {
  ws: WebSocket;
  next(): Promise<unknown>;
  send(value: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
}

export function connect(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const queue: unknown[] = [];
    const waiters: ((value: unknown) => void)[] = [];
    ws.on('message', (data) => {
      const value: unknown = JSON.parse(data.toString());
      const waiter = waiters.shift();
      if (waiter) waiter(value);
      else queue.push(value);
    });
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.once('close', (code, reason) => done({ code, reason: reason.toString() })),
    );
    ws.once('open', () =>
      resolve({
        ws,
        closed,
        send: (value) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
        next: () =>
          queue.length > 0
            ? Promise.resolve(queue.shift())
            : new Promise((done, fail) => {
                const timer = setTimeout(() => fail(new Error('no message within 3 s')), 3000);
                waiters.push((value) => {
                  clearTimeout(timer);
                  done(value);
                });
              }),
      }),
    );
    ws.once('error', reject);
  });
}

/** Attempts an upgrade that is expected to be refused; resolves with the HTTP status and body. */
export function refusal(url: string, headers?: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`upgrade to ${url} was accepted`));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}
