/** examples/fastify-chat's page in Chromium: joining twice replaces the socket, so a message shows once. */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { ensureBuilt } from '../helpers/built.js';
import { startPeer, type Peer } from '../helpers/child.js';

let browser: Browser;
let app: Peer;

beforeAll(async () => {
  ensureBuilt('fastify');
  [browser, app] = await Promise.all([
    launchChromium(),
    startPeer(
      process.execPath,
      [join(__dirname, '..', '..', 'examples', 'fastify-chat', 'index.mjs'), '--port', '0'],
      30_000,
    ),
  ]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

test('a second click on "join" does not double every message', async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`http://127.0.0.1:${app.port}/`);
  await page.fill('#login [name=nick]', 'ann');
  await page.click('#login button');
  await page.waitForFunction(`document.getElementById('log').textContent.includes('* ann joins lobby')`);
  await page.click('#login button');
  await page.waitForFunction(
    `(document.getElementById('log').textContent.match(/ann joins lobby/g) ?? []).length >= 2`,
  );
  await page.fill('#say [name=text]', 'once');
  await page.click('#say button');
  await page.waitForFunction(`document.getElementById('log').textContent.includes('ann: once')`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const log = (await page.textContent('#log')) ?? '';
  expect(log.match(/ann: once/g)).toHaveLength(1);
  await page.close();
});
