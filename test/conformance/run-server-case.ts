/** Runs one server conformance row against a live server and reports what actually happened. */
import { closePayload, encodeFrame, OP } from '../helpers/frames.js';
import { rawClient, toEvents, type RawClientOptions, type RawConnection } from '../helpers/raw-peer.js';
import { label } from '../helpers/describe-events.js';
import type { ServerCase, ServerOutcome } from './server-cases.js';

export interface Observed {
  status: number;
  headers: Record<string, string>;
  events: string[];
  close?: number | null;
  early?: boolean;
  /** TCP closed by the server after its close frame (or after refusing the handshake). */
  tcpClosed: boolean;
}

const QUIET_MS = 300;
// Waits end as soon as what they wait for happens: the budgets only matter on a machine under heavy load
// (a run at load average 16 ran out of 3 s in 11 rows, for ws and wskit alike).
const CLOSE_WAIT_MS = 8000;
/**
 * Extra wait per MiB the row sends: a 16 MiB echo over a TLS HTTP/2 stream takes ~3 s alone, so under the
 * full suite's load the plain 3 s ran out before the reply came (frame.*.16777216 over HTTP/2). Waits end
 * as soon as their condition holds; only a slow run waits longer.
 */
const WAIT_MS_PER_MIB = 1000;

function waitFor(row: ServerCase): number {
  const bytes = [...(row.frames ?? []), ...(row.rest ?? [])].reduce((sum, frame) => sum + frame.length, 0);
  return CLOSE_WAIT_MS + Math.ceil((bytes / (1024 * 1024)) * WAIT_MS_PER_MIB);
}

/** `expected` is the row's outcome for this implementation (the RFC's, or the control's deviation). */
/** Opens the connection a row runs on: raw TCP by default; the HTTP/2 suite opens an extended CONNECT stream. */
export type CaseConnector = (
  port: number,
  request: RawClientOptions | undefined,
) => Promise<{ status: number; head: { headers: Record<string, string> }; connection: RawConnection }>;

export async function runServerCase(
  port: number,
  row: ServerCase,
  expected: ServerOutcome,
  connect: CaseConnector = rawClient,
): Promise<Observed> {
  const { status, head, connection } = await connect(port, row.request);
  const observed: Observed = { status, headers: head.headers, events: [], tcpClosed: false };
  if (status !== 101) {
    await connection.waitFor((c) => c.tcpClosed, expected.keepAlive ? QUIET_MS : CLOSE_WAIT_MS);
    observed.tcpClosed = connection.tcpClosed;
    connection.destroy();
    return observed;
  }
  const closeSeen = (): boolean => connection.closeFrame() !== undefined;
  // One budget for the reply and the close: a missing reply still ends in a diff, not jest's 30 s timeout.
  const deadline = Date.now() + waitFor(row);
  const left = (): number => Math.max(CLOSE_WAIT_MS, deadline - Date.now());
  try {
    connection.write(row.frames ?? []);
    if (row.rest) {
      observed.early = await connection.waitFor(closeSeen, QUIET_MS);
      if (!observed.early) connection.write(row.rest);
    }
    if (expected.close === undefined) {
      // The connection should stay open: wait for the expected replies, then close cleanly.
      const want = expected.events?.length ?? 0;
      const nonClose = (): number => toEvents(connection.frames).filter((e) => e.type !== 'close').length;
      await connection.waitFor((c) => nonClose() >= want || c.closeFrame() !== undefined, left());
      // Give a wrongly extra reply a moment to show up before closing.
      await connection.waitFor(() => nonClose() > want || closeSeen(), want === 0 ? QUIET_MS : 50);
      if (!closeSeen()) connection.write(encodeFrame({ opcode: OP.close, mask: true, payload: closePayload(1000) }));
    }
    await connection.waitFor((c) => c.tcpClosed, left());
    observed.tcpClosed = connection.tcpClosed;
    const events = toEvents(connection.frames);
    observed.events = events.filter((e) => e.type !== 'close').map(label);
    const close = events.find((e) => e.type === 'close');
    if (close && close.type === 'close') observed.close = close.code;
    return observed;
  } finally {
    connection.destroy();
  }
}

/** The observation reduced to the fields the expectation talks about, for one toEqual. */
export function comparable(observed: Observed, outcome: ServerOutcome): Record<string, unknown> {
  const result: Record<string, unknown> = { status: observed.status };
  for (const [name, want] of Object.entries(outcome.headers ?? {})) {
    const got = observed.headers[name];
    result[`header ${name}`] =
      want === null
        ? got === undefined
          ? null
          : got
        : want instanceof RegExp
          ? got !== undefined && want.test(got)
            ? 'matches'
            : (got ?? null)
          : (got ?? null);
  }
  if (observed.status === 101) {
    result.events = observed.events;
    result.close = observed.close === undefined ? 'none' : observed.close;
  }
  if (outcome.early !== undefined) result.early = observed.early;
  result.tcpClosed = observed.tcpClosed;
  return result;
}

export function expectedComparable(outcome: ServerOutcome): Record<string, unknown> {
  const status = outcome.status ?? 101;
  const result: Record<string, unknown> = { status };
  for (const [name, want] of Object.entries(outcome.headers ?? {})) {
    result[`header ${name}`] = want === null ? null : want instanceof RegExp ? 'matches' : want;
  }
  if (status === 101) {
    result.events = outcome.events ?? [];
    // A connection left open is closed by the harness with 1000, which must be echoed.
    result.close = outcome.close === undefined ? 1000 : outcome.close;
  }
  if (outcome.early !== undefined) result.early = outcome.early;
  result.tcpClosed = outcome.keepAlive !== true;
  return result;
}
