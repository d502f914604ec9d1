/**
 * Property tests against the server under test (bounded runs):
 * - any chunking of one valid client byte stream yields the same echoed messages;
 * - random bytes after a valid handshake never take the server down: it still serves a fresh connection.
 */
import fc from 'fast-check';
import { closePayload, encodeFrame, OP } from '../helpers/frames.js';
import { rawClient, toEvents } from '../helpers/raw-peer.js';
import { label, text, binary, pong } from '../helpers/describe-events.js';
import { implementations, startEchoServer, type RunningServer } from '../helpers/implementations.js';

const stream = Buffer.concat([
  encodeFrame({ opcode: OP.text, mask: true, payload: 'héllo wörld' }),
  encodeFrame({ opcode: OP.binary, mask: true, fin: false, payload: Buffer.from([1, 2, 3]) }),
  encodeFrame({ opcode: OP.ping, mask: true, payload: 'mid' }),
  encodeFrame({ opcode: OP.cont, mask: true, payload: Buffer.alloc(300, 9) }),
  encodeFrame({ opcode: OP.text, mask: true, fin: false, payload: Buffer.from([0xf0, 0x9f]) }),
  encodeFrame({ opcode: OP.cont, mask: true, payload: Buffer.from([0x98, 0x80]) }),
  encodeFrame({ opcode: OP.close, mask: true, payload: closePayload(1000, 'end') }),
]);
const expected = [
  text('héllo wörld'),
  pong('mid'),
  binary(Buffer.concat([Buffer.from([1, 2, 3]), Buffer.alloc(300, 9)])),
  text('😀'),
  'close 1000',
];

/** Splits data at the given (sorted, deduplicated) cut points. */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts)].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    parts.push(data.subarray(start, p));
    start = p;
  }
  parts.push(data.subarray(start));
  return parts.filter((p) => p.length > 0);
}

describe.each(implementations)('server properties: $name', (impl) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startEchoServer(impl);
  });
  afterAll(async () => {
    await server.close();
  });

  test('any split of a valid byte stream parses to the same messages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), async (cuts) => {
        const { connection } = await rawClient(server.port);
        for (const part of split(stream, cuts)) {
          connection.socket.write(part);
          // Let each chunk reach the server as its own read most of the time.
          await new Promise((resolve) => setImmediate(resolve));
        }
        await connection.waitFor((c) => c.tcpClosed, 3000);
        connection.destroy();
        expect(toEvents(connection.frames).map(label)).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  test('random bytes after a valid handshake never crash the server', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), async (bytes) => {
        const { connection } = await rawClient(server.port);
        connection.socket.write(bytes);
        // Either the server fails the connection or waits for more bytes; both are fine.
        await connection.waitFor((c) => c.tcpClosed, 100);
        connection.destroy();
        const fresh = await rawClient(server.port);
        fresh.connection.write(encodeFrame({ opcode: OP.text, mask: true, payload: 'still up' }));
        const ok = await fresh.connection.waitFor((c) => c.frames.length > 0, 3000);
        fresh.connection.destroy();
        expect([fresh.status, ok, toEvents(fresh.connection.frames).map(label)]).toEqual([
          101,
          true,
          [text('still up')],
        ]);
      }),
      { numRuns: 40 },
    );
  });
});
