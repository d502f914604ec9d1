/**
 * Interop with Python `websockets` (Debian python3-websockets, run by /usr/bin/python3): its client
 * against our server, and our client against its server, with compression on and off.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { WebSocket as WsWebSocket } from 'ws';
import { implementations, serveInteropPeer, type Implementation } from '../helpers/implementations.js';
import { run, startPeer } from '../helpers/child.js';

const PYTHON = '/usr/bin/python3';
const dir = join(__dirname, 'python');
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20];

interface PythonClientReport {
  subprotocol: string | null;
  extensions: string | null;
  echo: Array<{ kind: string; size: number; same: boolean }>;
  fragmentedText: string;
  fragmentedBinary: string;
  pong: boolean;
  closes: Record<string, [number, string]>;
  serverCloses: Record<string, [number, string]>;
}

/** Our server for the python client: echo with type, "close:CODE:REASON" command, records closes. */
async function startServer(impl: Implementation, perMessageDeflate: boolean) {
  const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 64 << 20 });
  await once(wss, 'listening');
  const closes = serveInteropPeer(wss);
  const port = (wss.address() as AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    });
  return { port, closes, close };
}

const compressions = [true, false];

describe.each(implementations)('python websockets interop: $name', (impl) => {
  describe.each(compressions)('compression %s', (compression) => {
    test('python client against our server', async () => {
      const server = await startServer(impl, compression);
      try {
        const result = await run(
          PYTHON,
          [join(dir, 'client.py'), `ws://127.0.0.1:${server.port}/`, '--compression', compression ? 'on' : 'off'],
          60_000,
        );
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
        const report = JSON.parse(result.stdout) as PythonClientReport;
        expect(report.subprotocol).toBe('chat');
        if (compression) expect(report.extensions).toMatch(/^permessage-deflate/);
        else expect(report.extensions).toBeNull();
        expect(report.echo).toEqual(
          SIZES.flatMap((size) => [
            { kind: 'str', size, same: true },
            { kind: 'bytes', size, same: true },
          ]),
        );
        expect(report.fragmentedText).toBe('fragmented');
        expect(report.fragmentedBinary).toBe('010203');
        expect(report.pong).toBe(true);
        expect(report.closes).toEqual({
          1000: [1000, 'done'],
          1001: [1001, 'py'],
          1003: [1003, 'py'],
          1008: [1008, 'py'],
          1011: [1011, 'py'],
          3000: [3000, 'py'],
          4999: [4999, 'py'],
          999: [1002, expect.any(String)],
          1004: [1002, expect.any(String)],
          1005: [1002, expect.any(String)],
          1006: [1002, expect.any(String)],
          1015: [1002, expect.any(String)],
          2999: [1002, expect.any(String)],
          5000: [1002, expect.any(String)],
        });
        expect(report.serverCloses).toEqual({
          1000: [1000, 'server says 1000'],
          1001: [1001, 'server says 1001'],
          1011: [1011, 'server says 1011'],
          3001: [3001, 'server says 3001'],
          4000: [4000, 'server says 4000'],
        });
        // What our server saw: the valid client codes with their reasons.
        for (const code of [1001, 1003, 1008, 1011, 3000, 4999]) expect(server.closes).toContainEqual([code, 'py']);
      } finally {
        await server.close();
      }
    });

    test('our client against the python server', async () => {
      const peer = await startPeer(PYTHON, [join(dir, 'server.py'), '--compression', compression ? 'on' : 'off']);
      const url = `ws://127.0.0.1:${peer.port}/`;
      const open = async (): Promise<WsWebSocket> => {
        const ws = new impl.WebSocket(url, ['chat', 'superchat'], {
          perMessageDeflate: compression,
          maxPayload: 64 << 20,
        });
        await once(ws, 'open');
        return ws;
      };
      const next = (ws: WsWebSocket): Promise<[Buffer, boolean]> => once(ws, 'message') as Promise<[Buffer, boolean]>;
      try {
        const ws = await open();
        expect(ws.protocol).toBe('chat');
        expect(ws.extensions).toMatch(compression ? /^permessage-deflate/ : /^$/);
        for (const size of SIZES) {
          const text = 'abcdefghij'.repeat(size / 10 + 1).slice(0, size);
          const data = Buffer.alloc(size, 0x5a);
          ws.send(text);
          const [gotText, textIsBinary] = await next(ws);
          expect({ size, isBinary: textIsBinary, same: gotText.toString() === text }).toEqual({
            size,
            isBinary: false,
            same: true,
          });
          ws.send(data);
          const [gotData, dataIsBinary] = await next(ws);
          expect({ size, isBinary: dataIsBinary, same: data.equals(gotData) }).toEqual({
            size,
            isBinary: true,
            same: true,
          });
        }
        // Fragmented input: one message in three frames.
        ws.send('frag', { fin: false });
        ws.send('men', { fin: false });
        ws.send('ted', { fin: true });
        const [fragmented, fragmentedIsBinary] = await next(ws);
        expect([fragmented.toString(), fragmentedIsBinary]).toEqual(['fragmented', false]);
        ws.ping(Buffer.from('interop'));
        const [pongData] = (await once(ws, 'pong')) as [Buffer];
        expect(pongData.toString()).toBe('interop');
        ws.close(1000, 'bye');
        const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
        expect([code, reason.toString()]).toEqual([1000, 'bye']);

        // Every valid close-code class from our side; python reports what it received.
        for (const c of [1001, 1003, 1011, 3000, 4999]) {
          const s = await open();
          s.close(c, `ours ${c}`);
          const [echoed] = (await once(s, 'close')) as [number, Buffer];
          expect(echoed).toBe(c);
          expect(await peer.waitForLine((l) => l === `CLOSED ${c} ours ${c}`, 5000)).toBe(true);
        }
        // Server-initiated closes reach our client with code and reason.
        for (const c of [1001, 1011, 3001, 4000]) {
          const s = await open();
          s.send(`close:${c}:py says ${c}`);
          const [got, why] = (await once(s, 'close')) as [number, Buffer];
          expect([got, why.toString()]).toEqual([c, `py says ${c}`]);
        }
        // A subprotocol the server does not speak: the server selects none and the client, having
        // required one, fails the handshake instead of opening.
        const plain = new impl.WebSocket(url, ['nope'], { perMessageDeflate: compression });
        const events: string[] = [];
        plain.on('open', () => events.push('open'));
        plain.on('error', (err) => events.push(`error ${err.message}`));
        await new Promise((resolve) => plain.on('close', resolve));
        expect(events).toEqual([expect.stringMatching(/^error .*subprotocol/i)]);
      } finally {
        await peer.stop();
      }
    });
  });
});
