import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import { WebSocketServer as WsServer } from 'ws';
import { wskitExpress, type WskitExpressSetup } from '@wskit/express';
import { open, refused } from './client.js';

const versions: [string, typeof express5][] = [
  ['express 5', express5],
  ['express 4', express4],
];

interface Setup {
  ws: string;
  otherPaths: string[];
  stop(): Promise<void>;
}

/**
 * One server, two `upgrade` listeners: this plugin's (attached first, so it sees every upgrade before
 * the other does) and a `ws` noServer WebSocketServer that owns '/other' — the shape of a dev server's HMR socket.
 */
async function start(
  express: typeof express5,
  options: WskitExpressSetup,
  build?: (app: ReturnType<typeof express5>) => void,
): Promise<Setup> {
  const app = express();
  build?.(app);
  const plugin = wskitExpress(app, options);
  plugin.app.ws('/chat', (ws, req) => ws.send(`chat ${req.url}`));
  const server = plugin.attach(http.createServer(app));
  const other = new WsServer({ noServer: true });
  const otherPaths: string[] = [];
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/other') return;
    otherPaths.push(req.url ?? '');
    other.handleUpgrade(req, socket, head, (ws) => ws.send('from ws'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    ws: `ws://127.0.0.1:${port}`,
    otherPaths,
    async stop() {
      for (const client of other.clients) client.terminate();
      other.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(versions)('@wskit/express beside another upgrade listener on %s', (_name, express) => {
  test("unmatched: 'ignore' leaves an upgrade no route takes to the other listener; ws routes still work", async () => {
    const setup = await start(express, { unmatched: 'ignore' });
    const other = await open(`${setup.ws}/other?x=1`);
    expect(await other.message(0)).toBe('from ws');
    expect(setup.otherPaths).toEqual(['/other?x=1']);
    const chat = await open(`${setup.ws}/chat`);
    expect(await chat.message(0)).toBe('chat /chat');
    other.ws.close();
    chat.ws.close();
    await Promise.all([other.closed, chat.closed]);
    await setup.stop();
  });

  test("by default an upgrade no route takes is answered 404 (the plugin owns the server's upgrades)", async () => {
    const setup = await start(express, {});
    const refusal = await refused(`${setup.ws}/nowhere`);
    expect(refusal.status).toBe(404);
    await setup.stop();
  });

  test('shouldHandle(req) false keeps even app-wide middleware off the other listener’s sockets', async () => {
    const setup = await start(express, { shouldHandle: (req) => !req.url!.startsWith('/other') }, (app) =>
      app.use((req, res, next) => {
        if (req.headers.authorization === 'Bearer ok') next();
        else res.status(401).send('who are you');
      }),
    );
    const other = await open(`${setup.ws}/other`);
    expect(await other.message(0)).toBe('from ws');
    const denied = await refused(`${setup.ws}/chat`);
    expect(denied.status).toBe(401);
    expect(denied.body).toBe('who are you');
    const chat = await open(`${setup.ws}/chat`, { headers: { Authorization: 'Bearer ok' } });
    expect(await chat.message(0)).toBe('chat /chat');
    other.ws.close();
    chat.ws.close();
    await Promise.all([other.closed, chat.closed]);
    await setup.stop();
  });

  test('a throwing shouldHandle answers 500 instead of crashing the server', async () => {
    const setup = await start(express, {
      shouldHandle: () => {
        throw new Error('filter bug');
      },
    });
    const refusal = await refused(`${setup.ws}/chat`);
    expect(refusal.status).toBe(500);
    await setup.stop();
  });
});
