/**
 * Edge behaviour of the heartbeat that the main suites leave out: option shapes, handles from another
 * heartbeat, failing targets and reporters (the timer never throws), a double close and a long stall.
 */
import { HandshakeError } from '../src/errors.js';
import { http2Headers, validateConnectRequest } from '../src/handshake.js';
import { Heartbeat, type HeartbeatTarget } from '../src/heartbeat.js';
import { http2Unsupported } from '../src/http2-client.js';

class Target implements HeartbeatTarget {
  pings = 0;
  timedOut = 0;
  sendHeartbeatPing(): void {
    this.pings++;
  }
  heartbeatTimedOut(): void {
    this.timedOut++;
  }
}

describe('heartbeat edges', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('the option must be an object', () => {
    expect(() => new Heartbeat(null as unknown as { interval: number; timeout: number })).toThrow(TypeError);
    expect(() => new Heartbeat(5 as unknown as { interval: number; timeout: number })).toThrow(TypeError);
    expect(() => new Heartbeat({ interval: '1' as unknown as number, timeout: 1 })).toThrow(RangeError);
  });

  test('remove() ignores a handle of another heartbeat; close() is idempotent', () => {
    const a = new Heartbeat({ interval: 100, timeout: 100 });
    const b = new Heartbeat({ interval: 100, timeout: 100 });
    const target = new Target();
    const entry = a.add(target);
    b.remove(entry);
    expect(a.size).toBe(1);
    a.close();
    a.close();
    expect(a.size).toBe(0);
    b.close();
  });

  test('a timeout callback that removes a socket due for its ping in the same tick: that ping is not sent', () => {
    const hb = new Heartbeat({ interval: 100, timeout: 100 });
    const b = new Target();
    let bHandle: ReturnType<Heartbeat['add']> | null = null;
    const a = new Target();
    a.heartbeatTimedOut = () => {
      a.timedOut++;
      if (bHandle) hb.remove(bHandle);
    };
    hb.add(a);
    jest.advanceTimersByTime(100);
    expect(a.pings).toBe(1);
    bHandle = hb.add(b);
    // At 200 a's ping is unanswered (it times out) and b is due for its first ping.
    jest.advanceTimersByTime(100);
    expect(a.timedOut).toBe(1);
    expect(b.pings).toBe(0);
    expect(hb.size).toBe(0);
    hb.close();
  });

  test('a throwing target and a throwing reporter do not escape the timer', () => {
    const errors: unknown[] = [];
    const hb = new Heartbeat({ interval: 100, timeout: 50 }, (error) => {
      errors.push(error);
      throw new Error('reporter broke');
    });
    hb.add({
      sendHeartbeatPing: () => {
        throw new Error('ping failed');
      },
      heartbeatTimedOut: () => {
        throw new Error('timeout failed');
      },
    });
    expect(() => jest.advanceTimersByTime(400)).not.toThrow();
    expect(errors.map((e) => (e as Error).message)).toEqual(['ping failed', 'timeout failed']);
    expect(hb.size).toBe(0);
    hb.close();
  });

  test('the default reporter emits a process warning, also for a non-Error throw', () => {
    const warnings: (string | Error)[] = [];
    const spy = jest.spyOn(process, 'emitWarning').mockImplementation((w: string | Error) => {
      warnings.push(w);
    });
    try {
      const hb = new Heartbeat({ interval: 100, timeout: 50 });
      hb.add({
        sendHeartbeatPing: () => {
          throw 'plain string';
        },
        heartbeatTimedOut: () => {},
      });
      jest.advanceTimersByTime(150);
      expect(warnings).toEqual(['A heartbeat target failed: plain string']);
      hb.close();
    } finally {
      spy.mockRestore();
    }
  });

  test('after a long event-loop stall every due entry is still handled', () => {
    const hb = new Heartbeat({ interval: 100, timeout: 100, resolution: 10 });
    const target = new Target();
    hb.add(target);
    // Jump far beyond one wheel revolution in a single tick of the clock.
    const realNow = performance.now.bind(performance);
    const base = realNow();
    const spy = jest.spyOn(performance, 'now').mockImplementation(() => base + 10_000);
    try {
      jest.advanceTimersByTime(10);
    } finally {
      spy.mockRestore();
    }
    expect(target.pings).toBe(1);
    hb.close();
  });
});

describe('RFC 8441 §5 extended CONNECT validation', () => {
  const base = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':path': '/',
    ':authority': 'localhost',
    'sec-websocket-version': '13',
  };

  test('accepts CONNECT, and GET carrying :protocol (as plugins route it)', () => {
    expect(validateConnectRequest(base)).toMatchObject({ version: 13, key: '' });
    expect(validateConnectRequest({ ...base, ':method': 'GET' })).toMatchObject({ version: 13 });
  });

  test('refuses each fault with its status', () => {
    const status = (h: Record<string, string | string[] | undefined>): number | undefined => {
      const r = validateConnectRequest(h);
      return r instanceof HandshakeError ? r.status : undefined;
    };
    expect(status({ ...base, ':method': 'GET', ':protocol': undefined })).toBe(405);
    expect(status({ ...base, ':protocol': 'h2c' })).toBe(400);
    expect(status({ ...base, ':authority': undefined })).toBe(400);
    expect(status({ ...base, 'sec-websocket-version': undefined })).toBe(400);
    expect(status({ ...base, 'sec-websocket-version': ' ' })).toBe(400);
    // Version 8 has no HTTP/2 binding.
    expect(status({ ...base, 'sec-websocket-version': '8' })).toBe(426);
    expect(status({ ...base, 'sec-websocket-protocol': 'a, a' })).toBe(400);
    expect(status({ ...base, 'sec-websocket-protocol': ['a', 'b'], origin: 'https://x' })).toBeUndefined();
  });
});

describe('HTTP/2 response headers', () => {
  test('hop-by-hop fields are dropped and names lower-cased (RFC 9113 §8.2.2)', () => {
    expect(http2Headers(400, { Connection: 'close', Upgrade: 'websocket', 'X-A': '1' })).toEqual({
      ':status': 400,
      'x-a': '1',
    });
  });
});

describe('HTTP/2 client option refusals', () => {
  test('each unsupported option is named', () => {
    expect(http2Unsupported(true, 13, {}, undefined)?.message).toMatch(/ws\+unix/);
    expect(http2Unsupported(false, 8, {}, undefined)?.message).toMatch(/version 13/);
    expect(http2Unsupported(false, 13, {}, () => {})?.message).toMatch(/finishRequest/);
    expect(http2Unsupported(false, 13, { agent: {} }, undefined)?.message).toMatch(/Agent/);
    expect(http2Unsupported(false, 13, { createConnection: () => {} }, undefined)?.message).toMatch(/createConnection/);
    expect(http2Unsupported(false, 13, { socketPath: '/x' }, undefined)?.message).toMatch(/socketPath/);
    expect(http2Unsupported(false, 13, {}, undefined)).toBeNull();
  });
});
