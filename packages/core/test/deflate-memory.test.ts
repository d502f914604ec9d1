/**
 * Memory under sustained compression: 1,000 permessage-deflate connections (driven from a child process,
 * so this process's RSS is the server's) each exchange one compressible message per round for 20 rounds.
 * Once every socket has its zlib streams (a few rounds in), RSS must level off rather than climb.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from '@wskit/core';

const CONNECTIONS = 1000;
const ROUNDS = 20;
const MiB = 1024 * 1024;

test('1,000 compressing connections × 20 rounds: RSS levels off after the first rounds', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
  await once(wss, 'listening');
  let mismatched = 0;
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) mismatched++;
      ws.send(data, { binary: isBinary });
    });
  });
  const port = (wss.address() as AddressInfo).port;
  const child = spawn(
    process.execPath,
    [join(__dirname, 'fixtures', 'deflate-load.cjs'), String(port), String(CONNECTIONS), String(ROUNDS)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const exited = once(child, 'exit');
  const rss = new Map<number, number>();
  const problems: string[] = [];
  let buffered = '';
  const finished = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const round = /^ROUND (\d+)$/.exec(line);
        if (round) {
          rss.set(Number(round[1]), process.memoryUsage().rss);
          if (Number(round[1]) === ROUNDS) resolve();
        } else if (line !== 'OPEN') {
          problems.push(line);
          resolve();
        }
      }
    });
    void exited.then(() => resolve());
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    await finished;
    expect(problems).toEqual([]);
    expect(rss.size).toBe(ROUNDS);
    expect(mismatched).toBe(0);
    expect(wss.clients.size).toBe(CONNECTIONS);
    for (const ws of wss.clients) expect(ws.extensions).toBe('permessage-deflate');

    const at = (round: number): number => rss.get(round)! / MiB;
    const figures = [1, 5, 10, 15, 20].map((r) => `round ${r}: ${at(r).toFixed(0)} MiB`).join(', ');
    console.log(`RSS with ${CONNECTIONS} compressing connections — ${figures}`);
    // Levelled off: rounds 5..20 add little compared with what the sockets and their zlib streams hold.
    expect(at(20) - at(5)).toBeLessThan(Math.max(48, at(5) * 0.15));
  } finally {
    clearTimeout(timeout);
    child.stdin.end();
    child.kill('SIGKILL');
    await exited;
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}, 60_000);
