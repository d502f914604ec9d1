/**
 * Bad options fail at construction with a RangeError that names the option (server and client), and one
 * default handshake deadline applies to the server, the router and the client.
 */
import { once } from 'node:events';
import type { ClientRequest } from 'node:http';
import { WebSocket, WebSocketRouter, WebSocketServer } from '@wskit/core';
import { DEFAULT_HANDSHAKE_TIMEOUT } from '../src/constants.js';
import { wskitServer, shutdown } from './helpers.js';

const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
  ['closeTimeout -1', { closeTimeout: -1 }, /closeTimeout/],
  ['closeTimeout NaN', { closeTimeout: Number.NaN }, /closeTimeout/],
  ['closeTimeout as a string', { closeTimeout: '1000' }, /closeTimeout/],
  ['closeTimeout beyond a timer', { closeTimeout: 2 ** 31 }, /closeTimeout/],
  ['closeTimeout Infinity', { closeTimeout: Infinity }, /closeTimeout/],
  ['handshakeTimeout -1', { handshakeTimeout: -1 }, /handshakeTimeout/],
  ['maxBufferedAmount -1', { maxBufferedAmount: -1 }, /maxBufferedAmount/],
  ['maxBufferedAmount NaN', { maxBufferedAmount: Number.NaN }, /maxBufferedAmount/],
  ['fragmentationThreshold 0', { fragmentationThreshold: 0 }, /fragmentationThreshold/],
  ['fragmentationThreshold 1.5', { fragmentationThreshold: 1.5 }, /fragmentationThreshold/],
  ['fragmentationThreshold -16', { fragmentationThreshold: -16 }, /fragmentationThreshold/],
  ['heartbeat interval 0', { heartbeat: { interval: 0, timeout: 1000 } }, /heartbeat interval/],
  ['heartbeat timeout missing', { heartbeat: { interval: 1000 } }, /heartbeat timeout/],
  ['heartbeat timeout NaN', { heartbeat: { interval: 1000, timeout: Number.NaN } }, /heartbeat timeout/],
  [
    'heartbeat resolution 0.1',
    { heartbeat: { interval: 1000, timeout: 1000, resolution: 0.1 } },
    /heartbeat resolution/,
  ],
  ['heartbeat liveness unknown', { heartbeat: { interval: 1000, timeout: 1000, liveness: 'data' } }, /liveness/],
];

describe('server options', () => {
  test.each(invalid)('%s is a RangeError', (_name, options, message) => {
    expect(() => new WebSocketServer({ noServer: true, ...options })).toThrow(RangeError);
    expect(() => new WebSocketServer({ noServer: true, ...options })).toThrow(message);
  });

  test('the router validates the same options', () => {
    expect(() => new WebSocketRouter(undefined, { closeTimeout: -1 })).toThrow(RangeError);
  });

  test('a heartbeat that is not an object is a TypeError', () => {
    expect(() => new WebSocketServer({ noServer: true, heartbeat: 1000 as never })).toThrow(TypeError);
  });

  test('valid edge values are accepted', () => {
    for (const options of [
      { closeTimeout: 0 },
      { closeTimeout: 2 ** 31 - 1 },
      { handshakeTimeout: 0 },
      { maxBufferedAmount: 0 },
      { maxBufferedAmount: Infinity },
      { fragmentationThreshold: 1 },
      { heartbeat: { interval: 1, timeout: 1, resolution: 1, liveness: 'pong' as const } },
      { heartbeat: undefined },
    ]) {
      const wss = new WebSocketServer({ noServer: true, ...options });
      wss.close();
    }
  });
});

describe('client options', () => {
  test.each(invalid)('%s is a RangeError thrown by the constructor', (_name, options, message) => {
    // Port 9 (discard) is never reached: validation comes first.
    expect(() => new WebSocket('ws://127.0.0.1:9/', options)).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:9/', options)).toThrow(message);
  });
});

describe('one default handshake timeout', () => {
  test('server and router use DEFAULT_HANDSHAKE_TIMEOUT (10 s)', () => {
    expect(DEFAULT_HANDSHAKE_TIMEOUT).toBe(10_000);
    const wss = new WebSocketServer({ noServer: true });
    expect(wss.options.handshakeTimeout).toBe(DEFAULT_HANDSHAKE_TIMEOUT);
    wss.close();
    const router = new WebSocketRouter();
    expect((router as unknown as { decisionTimeout: number }).decisionTimeout).toBe(DEFAULT_HANDSHAKE_TIMEOUT);
  });

  test('the client request carries the same default, and handshakeTimeout overrides it', async () => {
    const { wss, url } = await wskitServer();
    try {
      const timeouts: Array<number | undefined> = [];
      for (const options of [{}, { handshakeTimeout: 2500 }]) {
        const ws = new WebSocket(url, {
          ...options,
          finishRequest: (req: ClientRequest) => {
            timeouts.push((req as ClientRequest & { timeout?: number }).timeout);
            req.end();
          },
        });
        await once(ws, 'open');
        ws.terminate();
      }
      expect(timeouts).toEqual([DEFAULT_HANDSHAKE_TIMEOUT, 2500]);
    } finally {
      await shutdown(wss);
    }
  });
});
