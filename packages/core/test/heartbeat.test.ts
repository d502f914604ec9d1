import { Heartbeat, type HeartbeatEntry, type HeartbeatTarget } from '../src/heartbeat.js';

class FakeTarget implements HeartbeatTarget {
  pings: { at: number; payload: Buffer }[] = [];
  timedOutAt: number | undefined;
  sendHeartbeatPing(payload: Buffer): void {
    this.pings.push({ at: performance.now(), payload });
  }
  heartbeatTimedOut(): void {
    this.timedOutAt = performance.now();
  }
}

describe('Heartbeat with fake timers', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const interval = 1000;
  const timeout = 500;
  const tolerance = 100; // default resolution: min(interval, timeout) / 10 = 50 ms

  test('fake timers drive performance.now()', () => {
    const t0 = performance.now();
    jest.advanceTimersByTime(1234);
    expect(performance.now() - t0).toBe(1234);
  });

  test('pings a socket idle for the interval, not before', () => {
    const hb = new Heartbeat({ interval, timeout });
    const target = new FakeTarget();
    const start = performance.now();
    hb.add(target);
    jest.advanceTimersByTime(interval - 1);
    expect(target.pings).toHaveLength(0);
    jest.advanceTimersByTime(tolerance);
    expect(target.pings).toHaveLength(1);
    expect(target.pings[0]!.at - start).toBeGreaterThanOrEqual(interval);
    expect(target.pings[0]!.payload.length).toBeGreaterThan(0);
    hb.close();
  });

  test('does not ping a socket that keeps showing activity', () => {
    const hb = new Heartbeat({ interval, timeout });
    const active = new FakeTarget();
    const idle = new FakeTarget();
    const entry = hb.add(active);
    hb.add(idle);
    for (let i = 0; i < 50; i++) {
      jest.advanceTimersByTime(interval / 4);
      entry.touch();
    }
    expect(active.pings).toHaveLength(0);
    expect(active.timedOutAt).toBeUndefined();
    expect(entry.isAlive).toBe(true);
    // The idle neighbour was pinged and timed out meanwhile.
    expect(idle.pings.length).toBe(1);
    expect(idle.timedOutAt).toBeDefined();
    hb.close();
  });

  test('times out a silent socket within interval + timeout (+ tolerance), not before', () => {
    const hb = new Heartbeat({ interval, timeout });
    const target = new FakeTarget();
    const start = performance.now();
    const entry = hb.add(target);
    jest.advanceTimersByTime(interval + timeout - 1);
    expect(target.timedOutAt).toBeUndefined();
    expect(entry.isAlive).toBe(false);
    jest.advanceTimersByTime(tolerance);
    expect(target.timedOutAt).toBeDefined();
    expect(target.timedOutAt! - start).toBeGreaterThanOrEqual(interval + timeout);
    expect(target.timedOutAt! - start).toBeLessThanOrEqual(interval + timeout + tolerance);
    expect(hb.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0); // timer stops once nothing is watched
    jest.advanceTimersByTime(10 * interval);
    expect(target.pings).toHaveLength(1);
    hb.close();
  });

  test('activity after the ping keeps the socket alive and re-arms the idle check', () => {
    const hb = new Heartbeat({ interval, timeout });
    const target = new FakeTarget();
    const entry = hb.add(target);
    jest.advanceTimersByTime(interval + tolerance);
    expect(target.pings).toHaveLength(1);
    expect(entry.isAlive).toBe(false);
    jest.advanceTimersByTime(timeout / 2);
    entry.touch(); // any frame, not necessarily the pong
    expect(entry.isAlive).toBe(true);
    const touchedAt = performance.now();
    jest.advanceTimersByTime(timeout);
    expect(target.timedOutAt).toBeUndefined();
    expect(target.pings).toHaveLength(1);
    // Idle again: the next ping comes an interval after the last activity.
    jest.advanceTimersByTime(touchedAt + interval + tolerance - performance.now());
    expect(target.pings).toHaveLength(2);
    expect(target.pings[1]!.at - touchedAt).toBeGreaterThanOrEqual(interval);
    hb.close();
  });

  test('measures RTT from the ping payload, ignores pongs that do not answer it', () => {
    const hb = new Heartbeat({ interval, timeout });
    const target = new FakeTarget();
    const entry = hb.add(target);
    jest.advanceTimersByTime(interval + tolerance);
    const { payload } = target.pings[0]!;
    jest.advanceTimersByTime(37);
    expect(entry.pong(Buffer.from('unsolicited'))).toBeUndefined();
    expect(entry.pong(Buffer.alloc(payload.length))).toBeUndefined();
    expect(entry.rtt).toBeUndefined();
    jest.advanceTimersByTime(5);
    const expected = performance.now() - target.pings[0]!.at;
    expect(expected).toBeGreaterThanOrEqual(42);
    expect(entry.pong(payload)).toBe(expected);
    expect(entry.rtt).toBe(expected);
    expect(entry.isAlive).toBe(true);
    // A repeated pong for an already answered ping is not measured again.
    expect(entry.pong(payload)).toBeUndefined();
    jest.advanceTimersByTime(timeout * 2);
    expect(target.timedOutAt).toBeUndefined();
    hb.close();
  });

  test('remove() stops pings and timeouts for that entry; close() stops all', () => {
    const hb = new Heartbeat({ interval, timeout });
    const removed = new FakeTarget();
    const kept = new FakeTarget();
    const entry = hb.add(removed);
    hb.add(kept);
    hb.remove(entry);
    hb.remove(entry); // idempotent
    expect(hb.size).toBe(1);
    jest.advanceTimersByTime(interval + tolerance);
    expect(removed.pings).toHaveLength(0);
    expect(kept.pings).toHaveLength(1);
    hb.close();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(10 * interval);
    expect(kept.timedOutAt).toBeUndefined();
    expect(() => hb.add(new FakeTarget())).toThrow(/closed/);
  });

  test('a target that removes neighbours or throws does not disturb the others', () => {
    const reported: unknown[] = [];
    const hb = new Heartbeat({ interval, timeout }, (error) => reported.push(error));
    const targets = Array.from({ length: 10 }, () => new FakeTarget());
    const entries: HeartbeatEntry[] = [];
    const thrower: HeartbeatTarget = {
      sendHeartbeatPing() {
        // Removing neighbours while the engine is dispatching.
        for (const e of entries.slice(0, 5)) hb.remove(e);
        throw new Error('boom');
      },
      heartbeatTimedOut() {
        throw new Error('boom again');
      },
    };
    hb.add(thrower);
    for (const t of targets) entries.push(hb.add(t));
    // The error is reported, never thrown out of the timer (that would crash the process), and every
    // other target was served.
    expect(() => jest.advanceTimersByTime(interval + tolerance)).not.toThrow();
    expect(reported).toEqual([new Error('boom')]);
    expect(hb.size).toBe(6);
    const pinged = targets.map((t) => t.pings.length);
    // Targets added after the thrower are dispatched in some order; the removed ones may or may not
    // have been pinged already, the kept ones must have been.
    expect(pinged.slice(5)).toEqual([1, 1, 1, 1, 1]);
    expect(() => jest.advanceTimersByTime(timeout + tolerance)).not.toThrow();
    expect(reported).toEqual([new Error('boom'), new Error('boom again')]);
    expect(targets.slice(5).every((t) => t.timedOutAt !== undefined)).toBe(true);
    expect(targets.slice(0, 5).every((t) => t.timedOutAt === undefined)).toBe(true);
    hb.close();
  });

  test("liveness 'pong': data does not count, only the answer to our ping", () => {
    const hb = new Heartbeat({ interval, timeout, liveness: 'pong' });
    const talker = new FakeTarget();
    const answerer = new FakeTarget();
    const a = hb.add(talker);
    const b = hb.add(answerer);
    for (let t = 0; t < interval + tolerance; t += 50) {
      a.touch();
      b.touch();
      jest.advanceTimersByTime(50);
    }
    // Both were pinged although both kept sending.
    expect(talker.pings).toHaveLength(1);
    expect(answerer.pings).toHaveLength(1);
    expect(b.pong(Buffer.from('unsolicited'))).toBeUndefined();
    expect(b.isAlive).toBe(false);
    expect(b.pong(answerer.pings[0]!.payload)).toEqual(expect.any(Number));
    expect(b.isAlive).toBe(true);
    for (let t = 0; t < timeout + tolerance; t += 50) {
      a.touch();
      jest.advanceTimersByTime(50);
    }
    expect(talker.timedOutAt).toBeDefined();
    expect(answerer.timedOutAt).toBeUndefined();
    hb.close();
  });

  test("liveness 'any' (default): a socket that keeps sending is never pinged", () => {
    const hb = new Heartbeat({ interval, timeout });
    const talker = new FakeTarget();
    const a = hb.add(talker);
    for (let t = 0; t < 3 * (interval + timeout); t += 50) {
      a.touch();
      jest.advanceTimersByTime(50);
    }
    expect(talker.pings).toHaveLength(0);
    expect(talker.timedOutAt).toBeUndefined();
    hb.close();
  });

  test('100,000 entries share one timer', () => {
    const refTimersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const hb = new Heartbeat({ interval, timeout });
    const targets: FakeTarget[] = [];
    for (let i = 0; i < 100_000; i++) {
      const t = new FakeTarget();
      targets.push(t);
      hb.add(t);
    }
    expect(hb.size).toBe(100_000);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(interval + tolerance);
    expect(targets.every((t) => t.pings.length === 1)).toBe(true);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(timeout + tolerance);
    expect(targets.every((t) => t.timedOutAt !== undefined)).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(refTimersBefore);
    hb.close();
  });

  test('rejects invalid options', () => {
    expect(() => new Heartbeat({ interval: 0, timeout: 1 })).toThrow(RangeError);
    expect(() => new Heartbeat({ interval: 1, timeout: Number.NaN })).toThrow(RangeError);
    expect(() => new Heartbeat({ interval: 1, timeout: 1, resolution: -1 })).toThrow(RangeError);
    expect(() => new Heartbeat({ interval: 1, timeout: 1, resolution: 0.01 })).toThrow(RangeError);
    expect(() => new Heartbeat({ interval: 2 ** 31, timeout: 1 })).toThrow(RangeError);
    expect(() => new Heartbeat({ interval: 1, timeout: 1, liveness: 'data' as 'any' })).toThrow(RangeError);
  });
});

describe('Heartbeat with real timers', () => {
  test('its timer is unref’d and 100,000 entries add no active handle', () => {
    const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const hb = new Heartbeat({ interval: 60_000, timeout: 60_000 });
    for (let i = 0; i < 100_000; i++) hb.add(new FakeTarget());
    // An unref'd timer is not an active resource; a ref'd timer per entry would add 100,000.
    expect(timeouts()).toBe(before);
    hb.close();
  });

  test('short real intervals: idle socket pinged then timed out, active socket left alone', async () => {
    // Long enough that a loaded machine (parallel suites) does not starve the 10 ms keep-alive for a whole interval.
    const interval = 200;
    const hb = new Heartbeat({ interval, timeout: interval, resolution: 5 });
    const idle = new FakeTarget();
    const active = new FakeTarget();
    const start = performance.now();
    hb.add(idle);
    const entry = hb.add(active);
    const keepAlive = setInterval(() => entry.touch(), 10);
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('no timeout within 2 s')), 2000);
      const poll = setInterval(() => {
        if (idle.timedOutAt !== undefined) {
          clearInterval(poll);
          clearTimeout(deadline);
          resolve();
        }
      }, 5);
    });
    clearInterval(keepAlive);
    expect(idle.pings).toHaveLength(1);
    expect(idle.pings[0]!.at - start).toBeGreaterThanOrEqual(interval);
    expect(idle.timedOutAt! - start).toBeGreaterThanOrEqual(2 * interval);
    expect(active.pings).toHaveLength(0);
    expect(active.timedOutAt).toBeUndefined();
    hb.close();
  });
});
