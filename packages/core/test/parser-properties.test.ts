/**
 * Property tests on the receive path itself (no sockets, so many runs are cheap): random bytes, cut at
 * random points, never throw out of the parser — every fault arrives as one typed error with a close code —
 * and parsing them retains no memory.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { WebSocketError } from '../src/errors.js';
import { Receiver, type ReceiverTarget } from '../src/receiver.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

interface Probe {
  receiver: Receiver;
  errors: WebSocketError[];
}

function makeReceiver(isServer: boolean): Probe {
  const errors: WebSocketError[] = [];
  const ignore = (): void => {};
  const target: ReceiverTarget = {
    onMessage: ignore,
    onPing: ignore,
    onPong: ignore,
    onCloseFrame: ignore,
    onFragment: ignore,
    onReceiveError: (error) => void errors.push(error),
  };
  const receiver = new Receiver(target, {
    isServer,
    maxPayload: 64 * 1024,
    skipUTF8Validation: false,
    allowSynchronousEvents: true,
  });
  return { receiver, errors };
}

function feed(receiver: Receiver, bytes: Uint8Array, cuts: number[]): void {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const p of [...points, bytes.length]) {
    if (p > start) receiver.push(Buffer.from(bytes.subarray(start, p)));
    start = p;
  }
}

test.each([true, false])(
  'random bytes in random chunks never throw (server side: %s); faults are typed errors',
  (isServer) => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096, size: 'max' }),
        fc.array(fc.nat(), { maxLength: 16 }),
        (bytes, cuts) => {
          const r = makeReceiver(isServer);
          expect(() => feed(r.receiver, bytes, cuts)).not.toThrow();
          expect(r.errors.length).toBeLessThanOrEqual(1);
          for (const error of r.errors) {
            expect(error).toBeInstanceOf(WebSocketError);
            expect(error.code).toMatch(/^WS_ERR_/);
            expect([1002, 1007, 1009]).toContain(error.closeCode);
          }
        },
      ),
      { numRuns: 3000 },
    );
  },
);

test('parsing random input retains no memory', () => {
  const batch = (runs: number): void => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048, size: 'max' }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (bytes, cuts) => {
          feed(makeReceiver(true).receiver, bytes, cuts);
        },
      ),
      { numRuns: runs, seed: 42 },
    );
  };
  batch(2000); // warm up: compiled code, fast-check internals
  const used = (): number => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  batch(20000);
  const growth = used() - before;
  expect(growth).toBeLessThan(4 * 1024 * 1024);
});
