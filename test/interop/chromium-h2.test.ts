/**
 * Chromium over HTTP/2 (RFC 8441): a page served by a self-signed HTTP/2 server opens a WebSocket to the
 * WebSocketServer on that server. Chromium sends it as an extended CONNECT on the page's own connection
 * (the server accepts one TCP connection and one session), and text, binary and compressed messages echo.
 */
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { WebSocketServer } from '@wskit/core';
import { selfSignedCertificate } from '../helpers/tls.js';

const PAGE = `<!doctype html><meta charset="utf-8"><title>wskit h2</title><script>
window.run = async () => {
  const ws = new WebSocket('wss://' + location.host + '/echo', ['chat']);
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('error before open')); });
  const next = () => new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
  const report = { protocol: ws.protocol, extensions: ws.extensions, echoes: [] };
  const text = 'héllo over h2 ✓';
  ws.send(text);
  report.echoes.push((await next()) === text);
  const bytes = new Uint8Array(70000).map((_, i) => (i * 31 + 7) & 255);
  ws.send(bytes.buffer);
  const back = new Uint8Array(await next());
  report.echoes.push(back.length === bytes.length && back.every((v, i) => v === bytes[i]));
  const big = 'compress me '.repeat(100000);
  ws.send(big);
  report.echoes.push((await next()) === big);
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }); });
  ws.close(4000, 'page done');
  report.close = await closed;
  return report;
};
</script>`;

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
});

test('page and WebSocket share one HTTP/2 connection; text, binary and compressed messages echo', async () => {
  const pageSessions: http2.Http2Session[] = [];
  const server = http2.createSecureServer(
    { ...selfSignedCertificate(), settings: { enableConnectProtocol: true } },
    (req, res) => {
      if (req.url === '/') pageSessions.push(req.stream.session!);
      res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/' ? PAGE : '');
    },
  );
  let tcpConnections = 0;
  let tlsConnections = 0;
  let sessions = 0;
  const open = new Set<http2.ServerHttp2Session>();
  // Chromium may open a speculative spare TCP connection: TCP accepts and completed TLS handshakes are both counted.
  server.on('connection', () => tcpConnections++);
  server.on('secureConnection', () => tlsConnections++);
  server.on('session', (session) => {
    sessions++;
    open.add(session);
  });
  const wss = new WebSocketServer({ server, path: '/echo', perMessageDeflate: true });
  const seen: Array<{ version: string; session: http2.Http2Session }> = [];
  wss.on('connection', (ws, req) => {
    seen.push({ version: req.httpVersion, session: (req as unknown as http2.Http2ServerRequest).stream.session! });
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    const response = await page.goto(`https://127.0.0.1:${port}/`);
    expect(response?.status()).toBe(200);
    const tcpBeforeSocket = tcpConnections;
    const report = (await page.evaluate('window.run()')) as {
      protocol: string;
      extensions: string;
      echoes: boolean[];
      close: { code: number; reason: string; wasClean: boolean };
    };
    expect(report.protocol).toBe('chat');
    expect(report.extensions).toContain('permessage-deflate');
    expect(report.echoes).toEqual([true, true, true]);
    expect(report.close).toEqual({ code: 4000, reason: 'page done', wasClean: true });
    expect(seen.map((s) => s.version)).toEqual(['2.0']);
    // The WebSocket rode on the session (and so the TCP connection) that served the page.
    expect(pageSessions).toHaveLength(1);
    expect(seen[0]!.session).toBe(pageSessions[0]);
    // Accepted connections: the WebSocket opened no TCP connection of its own (none was accepted while it
    // ran), and only one connection ever completed TLS; Chromium's speculative spare socket, opened
    // with the page's (2 TCP accepts measured), never sends a ClientHello.
    expect(tcpConnections).toBe(tcpBeforeSocket);
    expect({ tlsConnections, sessions }).toEqual({ tlsConnections: 1, sessions: 1 });
  } finally {
    await context.close();
    wss.close();
    for (const session of open) session.destroy();
    server.close();
  }
});
