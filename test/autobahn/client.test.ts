/**
 * Drives test/autobahn/client.mjs against a tiny fake fuzzing server (a ws server speaking the three
 * endpoints) and checks every case's messages came back with their type, in order.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

const root = join(__dirname, '..', '..');
const script = join(root, 'test', 'autobahn', 'client.mjs');

type Message = { data: Buffer; isBinary: boolean };
/** The messages each fake case sends; the client must echo each one unchanged, with its type. */
const cases: Message[][] = [
  [{ data: Buffer.from('hello'), isBinary: false }],
  [
    { data: Buffer.from([0, 1, 2, 255]), isBinary: true },
    { data: Buffer.from('κόσμε'), isBinary: false },
    { data: Buffer.alloc(0), isBinary: false },
  ],
  [{ data: Buffer.alloc(200_000, 7), isBinary: true }],
];

interface FakeResult {
  caseCountRequests: number;
  echoes: Map<number, Message[]>;
  reports: string[];
  agents: string[];
}

async function fakeFuzzingServer(): Promise<{ port: number; result: FakeResult; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const result: FakeResult = { caseCountRequests: 0, echoes: new Map(), reports: [], agents: [] };
  wss.on('connection', (socket: WebSocket, req) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/getCaseCount') {
      result.caseCountRequests++;
      socket.send(String(cases.length), () => socket.close(1000));
    } else if (url.pathname === '/runCase') {
      const n = Number(url.searchParams.get('case'));
      result.agents.push(url.searchParams.get('agent') ?? '');
      const expected = cases[n - 1] ?? [];
      const got: Message[] = [];
      result.echoes.set(n, got);
      socket.on('message', (data, isBinary) => {
        got.push({ data: data as Buffer, isBinary });
        if (got.length === expected.length) socket.close(1000);
      });
      for (const m of expected) socket.send(m.data, { binary: m.isBinary });
      if (expected.length === 0) socket.close(1000);
    } else if (url.pathname === '/updateReports') {
      result.reports.push(url.searchParams.get('agent') ?? '');
      socket.close(1000);
    } else {
      socket.close(1008);
    }
  });
  const close = (): Promise<void> => new Promise((resolve) => wss.close(() => resolve()));
  return { port: (wss.address() as AddressInfo).port, result, close };
}

// The built @wskit/core is the client under test; ws runs the same driver as a control.
describe.each(['@wskit/core', 'ws'])('autobahn driver with %s', (moduleName) => {
  test('runs every case, echoing each message with its type, then updates reports', async () => {
    const fake = await fakeFuzzingServer();
    try {
      const child = spawn(
        process.execPath,
        [script, '--url', `ws://127.0.0.1:${fake.port}`, '--agent', 'wskit test', '--module', moduleName],
        { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await once(child, 'exit')) as [number | null];
      clearTimeout(timer);
      expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('done, 3 cases') });
      expect(fake.result.caseCountRequests).toBe(1);
      expect(fake.result.agents).toEqual(['wskit test', 'wskit test', 'wskit test']);
      expect(fake.result.reports).toEqual(['wskit test']);
      cases.forEach((messages, i) => {
        const got = fake.result.echoes.get(i + 1) ?? [];
        expect(got.map((m) => ({ hex: m.data.toString('hex'), isBinary: m.isBinary }))).toEqual(
          messages.map((m) => ({ hex: m.data.toString('hex'), isBinary: m.isBinary })),
        );
      });
    } finally {
      await fake.close();
    }
  });
});
