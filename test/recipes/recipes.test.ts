/**
 * ws's README recipes, run against the BUILT @wskit/core as a user would run them. The recipe text is read
 * from node_modules/ws/README.md at test time (nothing of it is copied here) and only its import is
 * switched to '@wskit/core'; it runs as an ES module (.mjs) and as CommonJS (.cjs) in a child process.
 * CommonJS comes in two forms: `const { WebSocket, WebSocketServer } = require(...)`, and, where the recipe
 * imports the default export, `const WebSocket = require(...)` (ws's module shape: the export is the class).
 * preload.cjs supplies what the recipes leave to their environment (port, remote host, certificate, an
 * `authenticate` function, 30 s timers run 100x faster). Peers are `ws` itself.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { ensureBuilt } from '../helpers/built.js';
import { selfSignedCertificate } from '../helpers/tls.js';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'node_modules', 'ws', 'README.md'), 'utf8');
const runDir = join(__dirname, `.run-${process.pid}`);
const preload = join(__dirname, 'preload.cjs');
const TIMEOUT = 15_000;

/** The `index`th js code block under the heading `title` of ws's README. */
function recipe(title: string, index = 0): string {
  const start = readme.indexOf(`\n### ${title}\n`);
  if (start < 0) throw new Error(`no recipe "${title}" in ws's README`);
  const next = readme.indexOf('\n##', start + title.length + 6);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (blocks[index] === undefined) throw new Error(`recipe "${title}" has no code block ${index}`);
  return blocks[index];
}

type Form = 'esm' | 'cjs-named' | 'cjs-class';

/** Only the module name changes for ESM; for CommonJS each import becomes the equivalent require. */
function switchImport(code: string, form: Form): string {
  if (form === 'esm') return code.replace(/from 'ws';/g, "from '@wskit/core';");
  return code.replace(
    /^import (?:(\w+)(?:, )?)?(?:\{ ([^}]*) \})? from '([^']+)';$/gm,
    (_line, def: string, named: string, from: string) => {
      const module = from === 'ws' ? '@wskit/core' : from;
      const lines: string[] = [];
      if (def && from === 'ws' && form === 'cjs-class') lines.push(`const ${def} = require('${module}');`);
      else if (def) lines.push(`const { ${def === 'WebSocket' ? def : `WebSocket: ${def}`} } = require('${module}');`);
      if (named)
        lines.push(
          def && form === 'cjs-class' ? `const { ${named} } = ${def};` : `const { ${named} } = require('${module}');`,
        );
      return lines.join(' ');
    },
  );
}

interface Running {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  port: () => Promise<number>;
  waitFor: (pattern: RegExp) => Promise<string>;
}

const running: Running[] = [];

function start(title: string, form: Form, env: Record<string, string> = {}, index = 0): Running {
  const file = join(runDir, `${title.replace(/\W+/g, '-')}-${index}-${form}.${form === 'esm' ? 'mjs' : 'cjs'}`);
  writeFileSync(file, switchImport(recipe(title, index), form));
  const child = spawn(process.execPath, ['--require', preload, file], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const waitFor = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = lines.find((l) => pattern.test(l));
        if (line === undefined) return;
        finish();
        resolve(line);
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `no line matching ${pattern} from "${title}" (${form}); stdout: ${lines.join(' | ')}; stderr: ${stderr}`,
          ),
        );
      }, TIMEOUT);
      const onExit = (): void => {
        finish();
        reject(new Error(`"${title}" (${form}) exited; stdout: ${lines.join(' | ')}; stderr: ${stderr}`));
      };
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
        child.removeListener('exit', onExit);
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });
  const run: Running = {
    child,
    lines,
    waitFor,
    port: async () => Number((await waitFor(/^RECIPE_PORT \d+$/)).split(' ')[1]),
  };
  running.push(run);
  return run;
}

/** A `ws` client that collects its messages. */
async function peer(
  url: string,
  options: ConstructorParameters<typeof WsClient>[2] = {},
): Promise<{ ws: WsClient; messages: string[] }> {
  const ws = new WsClient(url, options);
  const messages: string[] = [];
  ws.on('message', (data) => messages.push(String(data)));
  ws.on('error', () => {});
  cleanups.push(() => ws.terminate());
  await once(ws, 'open');
  return { ws, messages };
}

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A `ws` server on 127.0.0.1:0 standing in for the recipes' remote hosts. */
async function remotePeer(onConnection: (ws: WsClient) => void): Promise<number> {
  const wss = new WsServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', onConnection);
  await once(wss, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return (wss.address() as AddressInfo).port;
}

const cleanups: (() => unknown)[] = [];
let cert: { cert: string; key: string };

beforeAll(() => {
  ensureBuilt('core');
  mkdirSync(runDir, { recursive: true });
  // The recipes' child processes read the shared test certificate from files.
  const dir = mkdtempSync(join(tmpdir(), 'wskit-recipe-tls-'));
  const made = selfSignedCertificate();
  writeFileSync(join(dir, 'cert.pem'), made.cert);
  writeFileSync(join(dir, 'key.pem'), made.key);
  cert = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}, 120_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const r of running.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGKILL');
      await once(r.child, 'exit');
    }
  }
});

afterAll(() => {
  rmSync(runDir, { recursive: true, force: true });
  rmSync(join(cert.cert, '..'), { recursive: true, force: true });
});

/** Whether the built CJS entry is the WebSocket class (ws's module shape); asked of Node, not of jest's resolver. */
ensureBuilt('core');
const cjsEntryIsTheClass =
  execFileSync(process.execPath, ['-p', "typeof require('@wskit/core')"], { cwd: root, encoding: 'utf8' }).trim() ===
  'function';

const forms: Form[] = ['esm', 'cjs-named'];
/** Recipes that import the default export also run with `const WebSocket = require('@wskit/core')`. */
const formsWithDefault: Form[] = [...forms, 'cjs-class'];
/** `const WebSocket = require(...)` then `new WebSocket(url)` relies on ws's module shape: the CJS export is the class. */
const testForm = (_form: Form, _title: string, _index = 0): typeof test => test;
test('the built CJS entry is the WebSocket class', () => {
  expect(cjsEntryIsTheClass).toBe(true);
});

describe.each(forms)('%s', (form) => {
  test('simple server', async () => {
    const r = start('Simple server', form);
    const { ws, messages } = await peer(`ws://127.0.0.1:${await r.port()}`);
    await until(() => messages.length > 0, 'a message');
    expect(messages).toEqual(['something']);
    ws.send('hello recipe');
    await r.waitFor(/^received: hello recipe$/);
  });

  test('external HTTP/S server', async () => {
    const r = start('External HTTP/S server', form, { RECIPE_CERT: cert.cert, RECIPE_KEY: cert.key });
    const { ws, messages } = await peer(`wss://127.0.0.1:${await r.port()}`, { rejectUnauthorized: false });
    await until(() => messages.length > 0, 'a message');
    expect(messages).toEqual(['something']);
    ws.send('over tls');
    await r.waitFor(/^received: over tls$/);
  });

  test('multiple servers sharing a single HTTP/S server', async () => {
    const r = start('Multiple servers sharing a single HTTP/S server', form);
    const port = await r.port();
    await peer(`ws://127.0.0.1:${port}/foo`);
    await peer(`ws://127.0.0.1:${port}/bar?x=1`);
    const other = new WsClient(`ws://127.0.0.1:${port}/baz`);
    const [error] = (await once(other, 'error').catch((e: unknown) => [e])) as [Error];
    expect(error.message).toMatch(/socket hang up|ECONNRESET/);
  });

  test('client authentication', async () => {
    const r = start('Client authentication', form);
    const port = await r.port();
    const { ws } = await peer(`ws://127.0.0.1:${port}`, { headers: { authorization: 'Bearer alice' } });
    ws.send('hi');
    await r.waitFor(/^Received message hi from user alice$/);
    const refused = new WsClient(`ws://127.0.0.1:${port}`);
    refused.on('error', () => {});
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(401);
  });

  test('client-side broken connection detection (heartbeat on ping)', async () => {
    // A silent server: the client terminates after its ping timeout (30 s + 1 s, run 100x faster).
    let silentClosed: Promise<unknown[]> | undefined;
    const port = await remotePeer((ws) => {
      silentClosed = once(ws, 'close');
    });
    const r = start('How to detect and close broken connections?', form, { RECIPE_PEER_PORT: String(port) }, 1);
    await until(() => silentClosed !== undefined, 'the connection');
    const started = Date.now();
    const [code] = (await silentClosed!) as [number];
    expect(code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(5_000);
    void r;
  });
});

describe.each(formsWithDefault)('%s', (form) => {
  testForm(
    form,
    'Server broadcast',
    0,
  )('server broadcast to all clients, including the sender', async () => {
    const r = start('Server broadcast', form, {}, 0);
    const url = `ws://127.0.0.1:${await r.port()}`;
    const a = await peer(url);
    const b = await peer(url);
    a.ws.send('to everyone');
    await until(() => a.messages.length > 0 && b.messages.length > 0, 'both clients');
    expect([a.messages, b.messages]).toEqual([['to everyone'], ['to everyone']]);
  });

  testForm(
    form,
    'Server broadcast',
    1,
  )('server broadcast to every other client', async () => {
    const r = start('Server broadcast', form, {}, 1);
    const url = `ws://127.0.0.1:${await r.port()}`;
    const a = await peer(url);
    const b = await peer(url);
    const c = await peer(url);
    a.ws.send('to the others');
    await until(() => b.messages.length > 0 && c.messages.length > 0, 'the other clients');
    b.ws.send('marker');
    await until(() => a.messages.length > 0, 'the marker');
    expect(a.messages).toEqual(['marker']);
    expect(b.messages).toEqual(['to the others']);
  });

  testForm(form, 'Round-trip time')('round-trip time', async () => {
    const port = await remotePeer((ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const r = start('Round-trip time', form, { RECIPE_PEER_PORT: String(port) });
    await r.waitFor(/^connected$/);
    await until(() => r.lines.filter((l) => /^Round-trip time: \d+ ms$/.test(l)).length >= 2, 'two round trips');
  });

  testForm(form, 'Use the Node.js streams API')('the Node.js streams API', async () => {
    const port = await remotePeer((ws) => ws.on('message', (data) => ws.send(String(data).toUpperCase())));
    const r = start('Use the Node.js streams API', form, { RECIPE_PEER_PORT: String(port) });
    r.child.stdin.write('through the stream\n');
    await r.waitFor(/^THROUGH THE STREAM$/);
  });

  testForm(
    form,
    'How to detect and close broken connections?',
    1,
  )('client-side heartbeat: a pinging server keeps the connection open', async () => {
    const closes: number[] = [];
    let connections = 0;
    const port = await remotePeer((ws) => {
      connections++;
      const timer = setInterval(() => ws.ping(), 100);
      ws.on('close', (code) => {
        clearInterval(timer);
        closes.push(code);
      });
    });
    start('How to detect and close broken connections?', form, { RECIPE_PEER_PORT: String(port) }, 1);
    await until(() => connections === 1, 'the connection');
    // Ten times the (accelerated) ping timeout.
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    expect(closes).toEqual([]);
  });
});

describe.each(forms)('%s', (form) => {
  test('server heartbeat: ws.isAlive / ping / terminate', async () => {
    const r = start('How to detect and close broken connections?', form, {}, 0);
    const port = await r.port();
    // A live client answers the pings automatically and stays; a raw client that completes the handshake
    // and then reads but never answers is terminated within two intervals (30 s, run at 300 ms).
    const live = await peer(`ws://127.0.0.1:${port}`);
    const raw = connect(port, '127.0.0.1');
    cleanups.push(() => raw.destroy());
    raw.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    let received = '';
    raw.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const started = Date.now();
    await once(raw, 'close');
    expect(received).toMatch(/^HTTP\/1\.1 101 /);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(live.ws.readyState).toBe(WsClient.OPEN);
  });
});
