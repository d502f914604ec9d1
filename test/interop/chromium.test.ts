/**
 * Interop with headless Chromium: a page served by our HTTP server talks to the WebSocketServer sharing
 * that server (compression negotiated, subprotocol selected) and reports what it saw.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { implementations, serveInteropPeer } from '../helpers/implementations.js';
import { PAGE_HTML, PAGE_SIZES, type PageReport } from './chromium-page.js';

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
});

describe.each(implementations)('chromium interop: $name', (impl) => {
  test('text, ArrayBuffer and Blob of 0 B to 8 MiB, compression, subprotocol, closes', async () => {
    const http = createServer((req, res) => {
      res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/' ? PAGE_HTML : '');
    });
    const wss = new impl.WebSocketServer({ server: http, path: '/ws', perMessageDeflate: true, maxPayload: 64 << 20 });
    const serverSaw = serveInteropPeer(wss);
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      const report = (await page.evaluate('window.runScenario()')) as PageReport;
      expect(report.protocol).toBe('chat');
      expect(report.extensions).toContain('permessage-deflate');
      expect(report.echoes).toEqual(
        PAGE_SIZES.flatMap((size) => [
          { kind: 'text', size, same: true },
          { kind: 'arraybuffer', size, same: true },
          { kind: 'blob', size, same: true },
        ]),
      );
      expect(report.clientClose).toEqual({ code: 4000, reason: 'page done ✓', wasClean: true });
      expect(report.serverClose).toEqual({ code: 4001, reason: 'server bye ✓', wasClean: true });
      expect(report.errors).toEqual([]);
      expect(serverSaw).toContainEqual([4000, 'page done ✓']);
    } finally {
      await context.close();
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});
