/**
 * The demo `npm start` runs (examples/chat), end to end in headless Chromium: the landing page, then per
 * integration (core, Express, Fastify, Koa, Nest) two pages chatting, a refused upgrade (401), and one
 * server restart during which every page keeps what was typed offline and delivers it after reconnecting.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { WebSocket } from 'ws';
import { ensureBuilt } from '../helpers/built.js';
import { startPeer, type Peer } from '../helpers/child.js';

const script = join(__dirname, '..', '..', 'examples', 'chat', 'index.mjs');
const INTEGRATIONS = ['core', 'express', 'fastify', 'koa', 'nest'] as const;
const TITLES = { core: 'Core', express: 'Express', fastify: 'Fastify', koa: 'Koa', nest: 'Nest' };
// Generous: two cores shared by many jobs (the full suite runs flood tests beside this one).
const UI_TIMEOUT = 30_000;

let browser: Browser;
let demo: Peer;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  for (const name of ['express', 'fastify', 'koa', 'nest'] as const) ensureBuilt(name);
  [browser, demo] = await Promise.all([launchChromium(), startPeer(process.execPath, [script, '--port', '0'], 30_000)]);
}, 90_000);

afterAll(async () => {
  await Promise.allSettled(contexts.map((context) => context.close()));
  await browser?.close();
  await demo?.stop();
});

/** A page in its own context (own cookies), recording console errors and uncaught page errors. */
async function openPage(path: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`http://127.0.0.1:${demo.port}${path}`);
  return { page, errors };
}

async function logIn(page: Page, name: string): Promise<void> {
  await page.fill('#name', name);
  await page.click('#login-button');
  try {
    await page.waitForSelector('#status.online');
  } catch (error) {
    // Say what the page was doing: still connecting, backing off, or refused.
    const state = await page.evaluate(
      `[document.getElementById('status').textContent, document.getElementById('refusal').textContent]`,
    );
    throw new Error(`${name} never came online (status, refusal: ${JSON.stringify(state)}): ${String(error)}`, {
      cause: error,
    });
  }
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
}

/** The log's lines as [from, text, mine, pending]. (Browser code as strings: this project compiles without DOM types.) */
function lines(page: Page): Promise<Array<[string, string, boolean, boolean]>> {
  return page.evaluate(`[...document.querySelectorAll('#log li:not(.notice)')].map((li) => [
    li.querySelector('.from')?.textContent ?? '',
    [...li.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join(''),
    li.classList.contains('mine'),
    li.classList.contains('pending'),
  ])`);
}

/** Waits until a browser-side expression is truthy. */
function until(page: Page, expression: string, timeout = UI_TIMEOUT): Promise<unknown> {
  return page.waitForFunction(expression, undefined, { timeout });
}

test('the landing page links every integration by name, echoes, and logs no console errors', async () => {
  const { page, errors } = await openPage('/');
  const links = await page.evaluate(
    `[...document.querySelectorAll('#demos a')].map((a) => [a.getAttribute('href'), a.querySelector('b')?.textContent])`,
  );
  expect(links).toEqual(INTEGRATIONS.map((id) => [`/${id}/`, TITLES[id]]));
  expect(await page.getAttribute('meta[name="viewport"]', 'content')).toContain('width=device-width');
  const favicon = await fetch(`http://127.0.0.1:${demo.port}/favicon.ico`);
  expect(favicon.status).toBe(200);
  await page.fill('#echo-text', 'ping ✓');
  await page.click('#echo-form button');
  await until(page, `document.getElementById('echo-log').textContent.includes('← ping ✓')`);
  expect(errors).toEqual([]);
});

describe.each(INTEGRATIONS)('%s demo', (id) => {
  test('two pages chat in a room: own lines marked, timestamps, presence, live figures; no console errors', async () => {
    const [a, b] = await Promise.all([openPage(`/${id}/#e2e-${id}`), openPage(`/${id}/#e2e-${id}`)]);
    await logIn(a.page, 'ann');
    await logIn(b.page, 'bob');
    await until(a.page, `document.getElementById('members').textContent.includes('ann, bob')`);

    await say(a.page, 'hello from ann');
    // Bob answers what he has seen: without this wait his own line can be drawn before ann's arrives (a race
    // seen once under a loaded full run, not an ordering fault).
    await until(b.page, `document.getElementById('log').textContent.includes('hello from ann')`);
    await say(b.page, 'hi ann, bob here');
    for (const { page } of [a, b]) {
      await until(page, `document.querySelectorAll('#log li:not(.notice):not(.pending) time[datetime]').length === 2`);
    }
    expect(await lines(a.page)).toEqual([
      ['you', 'hello from ann', true, false],
      ['bob', 'hi ann, bob here', false, false],
    ]);
    expect(await lines(b.page)).toEqual([
      ['ann', 'hello from ann', false, false],
      ['you', 'hi ann, bob here', true, false],
    ]);
    // The live panel: samples every second over the same socket, drawn into the canvas.
    await until(a.page, `Number(document.getElementById('connections').textContent) >= 2`);
    await until(a.page, `document.getElementById('rate').textContent !== '–'`);
    await until(a.page, `Number(document.getElementById('chart').dataset.samples) >= 2`); // a line needs two points
    const inked = await a.page.evaluate(`(() => {
      const canvas = document.getElementById('chart');
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      return data.some((value, i) => i % 4 === 3 && value > 0);
    })()`);
    expect(inked).toBe(true);
    await b.page.close();
    await until(a.page, `document.getElementById('members').textContent === '1 here: ann'`);
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 120_000);

  test('without a session the upgrade is refused with 401, shown on the page', async () => {
    const { page } = await openPage(`/${id}/`);
    await page.click('#anonymous');
    await page.waitForSelector('#refusal[data-status]');
    expect(await page.getAttribute('#refusal', 'data-status')).toBe('401');
    expect(await page.textContent('#refusal')).toMatch(/^Upgrade refused: HTTP 401 — .*log in first/);

    const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/${id}/rooms/lobby`);
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(res.statusCode).toBe(401);
    ws.terminate();
  }, 60_000);
});

test('on a phone-sized screen the chat fits the width', async () => {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  await page.goto(`http://127.0.0.1:${demo.port}/fastify/`);
  await logIn(page, 'phone');
  await say(page, 'a long line that must wrap instead of widening the page '.repeat(4));
  await until(page, `document.querySelectorAll('#log li time[datetime]').length >= 1`);
  expect(await page.evaluate(`document.documentElement.scrollWidth <= window.innerWidth`)).toBe(true);
  expect(await page.evaluate(`window.innerWidth`)).toBe(360); // the viewport meta: no zoomed-out desktop layout
}, 60_000);

test('the heartbeat RTT reaches the panel', async () => {
  const { page } = await openPage('/core/');
  await logIn(page, 'rtt');
  // The heartbeat pings idle sockets every 5 s.
  await until(page, `/ms$/.test(document.getElementById('rtt').textContent)`, 20_000);
}, 40_000);

// Once, in a full run, the restart test's 'late' page never came online: a freshly restarted server under
// load answered the page's session check (GET /me) between the name being typed and the click, and the
// page wrote its suggestion (none: empty) over the typed name, so the required field blocked the login.
test('a name typed before the session check answers is kept, and logs in', async () => {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/koa/me', async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`http://127.0.0.1:${demo.port}/koa/`);
  await page.fill('#name', 'early');
  const answered = page.waitForResponse('**/koa/me');
  release();
  await answered;
  // Time for the page to read the answer (no session) and run what follows it.
  await page.evaluate(`new Promise((resolve) => setTimeout(resolve, 300))`);
  expect(await page.inputValue('#name')).toBe('early');
  await page.click('#login-button');
  await page.waitForSelector('#status.online');
  expect(await page.textContent('#you')).toBe('early');
}, 60_000);

test('after a server restart every demo reconnects and delivers what was typed while offline', async () => {
  const pages = await Promise.all(INTEGRATIONS.map((id) => openPage(`/${id}/#restart`)));
  await Promise.all(pages.map(({ page }, i) => logIn(page, `r${i}`)));
  const { port } = demo;
  await demo.stop();
  for (const { page } of pages) await page.waitForSelector('#status.reconnecting');
  await Promise.all(pages.map(({ page }, i) => say(page, `typed offline ${INTEGRATIONS[i]}`)));
  for (const [i, { page }] of pages.entries()) {
    expect((await lines(page)).at(-1)).toEqual(['you', `typed offline ${INTEGRATIONS[i]}`, true, true]);
    expect(await page.textContent('#pending')).toBe('1 message waiting to be sent');
  }
  demo = await startPeer(process.execPath, [script, '--port', String(port)], 30_000);
  await Promise.all(pages.map(({ page }) => page.waitForSelector('#status.online', { timeout: 30_000 })));
  for (const [i, { page }] of pages.entries()) {
    await until(page, `document.querySelectorAll('#log li.pending').length === 0`);
    expect((await lines(page)).filter(([, text]) => text.startsWith('typed offline'))).toEqual([
      ['you', `typed offline ${INTEGRATIONS[i]}`, true, false],
    ]);
    expect(await page.isHidden('#pending')).toBe(true);
  }
  // A newcomer sees it in the room's history: it reached the server once.
  const late = await openPage('/koa/#restart');
  await logIn(late.page, 'late');
  await until(late.page, `document.querySelectorAll('#log li time[datetime]').length >= 1`);
  expect((await lines(late.page)).map(([from, text]) => [from, text])).toEqual([['r3', 'typed offline koa']]);
}, 180_000);
