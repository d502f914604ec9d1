/**
 * Topic publishes with permessage-deflate against real peers: headless Chromium and Python `websockets`
 * subscribers decode shared (one deflate per publish) and dedicated (per socket) compressed frames, mixed
 * with per-socket sends, in order.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { WebSocketServer, type TopicCompression, type TopicStats, type WebSocket as ServerSocket } from '@wskit/core';
import { run } from '../helpers/child.js';

const PYTHON = '/usr/bin/python3';
const COUNT = 40;

/** Message i: long enough to be compressed, different each time. */
const message = (i: number): string => `${i}: ${'the quick brown fox jumps over the lazy dog '.repeat(10 + (i % 7))}`;
const expected = Array.from({ length: COUNT }, (_, i) => message(i));

/**
 * Subscribes every socket that says "ready"; once `sockets` have, publishes COUNT compressed messages to
 * them, every third one as a send() on each socket instead. Resolves with the topic's counters then (they go
 * with the topic when the peers leave).
 */
function serveTopic(wss: WebSocketServer, sockets: number): Promise<TopicStats> {
  const ready: ServerSocket[] = [];
  return new Promise((resolve) => {
    wss.on('connection', (ws: ServerSocket) => {
      ws.on('message', (data: Buffer) => {
        if (data.toString() !== 'ready') return;
        ws.subscribe('news');
        ready.push(ws);
        if (ready.length !== sockets) return;
        for (let i = 0; i < COUNT; i++) {
          if (i % 3 === 2) for (const s of ready) s.send(message(i), { compress: true });
          else wss.publish('news', message(i), { compress: true });
        }
        resolve(wss.topicHub.stats('news'));
      });
    });
  });
}

const cases: Array<{ compression: TopicCompression; serverNoContextTakeover: boolean; shared: boolean }> = [
  { compression: 'shared', serverNoContextTakeover: true, shared: true },
  { compression: 'shared', serverNoContextTakeover: false, shared: false },
  { compression: 'dedicated', serverNoContextTakeover: true, shared: false },
];

describe('topics with compression: Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  test.each(cases)(
    '$compression, server_no_context_takeover $serverNoContextTakeover',
    async (c) => {
      const http = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>topics</title>');
      });
      const wss = new WebSocketServer({
        server: http,
        perMessageDeflate: { serverNoContextTakeover: c.serverNoContextTakeover, threshold: 0 },
        topics: { compression: c.compression },
      });
      const SOCKETS = 3;
      const published = serveTopic(wss, SOCKETS);
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      const { port } = http.address() as AddressInfo;
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`http://127.0.0.1:${port}/`);
        const report = (await page.evaluate(
          ([url, sockets, count]) =>
            Promise.all(
              Array.from(
                { length: sockets },
                () =>
                  new Promise<{ extensions: string; messages: string[]; errors: number }>((resolve) => {
                    const ws = new WebSocket(url);
                    const out = { extensions: '', messages: [] as string[], errors: 0 };
                    ws.onopen = () => {
                      out.extensions = ws.extensions;
                      ws.send('ready');
                    };
                    ws.onerror = () => out.errors++;
                    ws.onclose = () => resolve(out);
                    ws.onmessage = (e) => {
                      out.messages.push(String(e.data));
                      if (out.messages.length === count) {
                        ws.close();
                        resolve(out);
                      }
                    };
                  }),
              ),
            ),
          [`ws://127.0.0.1:${port}/`, SOCKETS, COUNT] as const,
        )) as Array<{ extensions: string; messages: string[]; errors: number }>;
        const stats = await published;
        for (const r of report) {
          expect(r.errors).toBe(0);
          expect(r.extensions).toContain('permessage-deflate');
          expect(r.extensions.includes('server_no_context_takeover')).toBe(c.serverNoContextTakeover);
          expect(r.messages).toEqual(expected);
        }
        // Publishes (two of every three messages) were deflated once each, or never, by the hub.
        const publishes = expected.filter((_, i) => i % 3 !== 2).length;
        expect(stats.sharedDeflates).toBe(c.shared ? publishes : 0);
      } finally {
        await context.close();
        for (const client of wss.clients) client.terminate();
        await new Promise((resolve) => wss.close(resolve));
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
      }
    },
    60_000,
  );
});

describe('topics with compression: python websockets', () => {
  test.each(['shared', 'dedicated'] as const)(
    '%s: three offer groups decode everything in order',
    async (compression) => {
      const wss = new WebSocketServer({
        host: '127.0.0.1',
        port: 0,
        perMessageDeflate: { threshold: 0 },
        topics: { compression },
      });
      await once(wss, 'listening');
      const published = serveTopic(wss, 6);
      try {
        const { port } = wss.address() as AddressInfo;
        const result = await run(
          PYTHON,
          [join(__dirname, 'python', 'subscriber.py'), `ws://127.0.0.1:${port}/`, String(COUNT)],
          90_000,
        );
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
        const stats = await published;
        const report = JSON.parse(result.stdout) as {
          clients: Array<{ group: string; extensions: string; messages: string[] }>;
        };
        expect(report.clients).toHaveLength(6);
        for (const client of report.clients) {
          expect(client.messages).toEqual(expected);
          if (client.group === 'takeover') expect(client.extensions).not.toContain('server_no_context_takeover');
          else expect(client.extensions).toContain('server_no_context_takeover');
          if (client.group === 'independent-10') expect(client.extensions).toContain('server_max_window_bits=10');
        }
        // Shared: one deflate per publish for each of the two independent window sizes (15 and 10).
        const publishes = expected.filter((_, i) => i % 3 !== 2).length;
        expect(stats.sharedDeflates).toBe(compression === 'shared' ? 2 * publishes : 0);
      } finally {
        for (const client of wss.clients) client.terminate();
        await new Promise((resolve) => wss.close(resolve));
      }
    },
    120_000,
  );
});
