/**
 * RFC 6455 server conformance: every row of server-cases.ts, raw bytes over TCP, against wskit and
 * against ws as the control (ws rows use the deviation recorded in the table where there is one).
 */
import { implementations, startEchoServer, type RunningServer } from '../helpers/implementations.js';
import { DEFAULT_MAX_PAYLOAD, serverCases } from './server-cases.js';
import { comparable, expectedComparable, runServerCase } from './run-server-case.js';

describe.each(implementations)('server conformance: $name', (impl) => {
  const servers = new Map<string, Promise<RunningServer>>();
  const serverFor = (options: { perMessageDeflate?: boolean; maxPayload?: number } = {}): Promise<RunningServer> => {
    const key = JSON.stringify(options);
    let server = servers.get(key);
    if (!server) {
      server = startEchoServer(impl, { maxPayload: DEFAULT_MAX_PAYLOAD, perMessageDeflate: false, ...options });
      servers.set(key, server);
    }
    return server;
  };

  afterAll(async () => {
    for (const server of servers.values()) await (await server).close();
  });

  test.concurrent.each(serverCases.map((row) => [row.id, row] as const))('%s', async (_id, row) => {
    const outcome = impl.name === 'ws' && row.ws ? row.ws : row.expect;
    const { port } = await serverFor(row.server);
    const observed = await runServerCase(port, row, outcome);
    expect(comparable(observed, outcome)).toEqual(expectedComparable(outcome));
  });
});
