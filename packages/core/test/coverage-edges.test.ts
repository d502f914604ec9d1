/**
 * Edge behaviour of the heartbeat that the main suites leave out: option shapes, handles from another
 * heartbeat, failing targets and reporters (the timer never throws), a double close and a long stall.
 */
import { Heartbeat, type HeartbeatTarget } from '../src/heartbeat.js';

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
