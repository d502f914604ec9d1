import Koa from 'koa';
import type { KoaWebSocketOptions } from '@wskit/koa';
import { nextMessage, open, serveKoa } from './helpers.js';

// `handleProtocols` is one of the core option names every plugin shares; Koa also takes `protocols`.
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(
  options: KoaWebSocketOptions,
  route: Parameters<NonNullable<Koa.Context['ws']>>[0] = {},
): Promise<string> {
  const { base } = await serveKoa(
    Koa,
    (app) =>
      app.use(async (ctx) => {
        const socket = await ctx.ws!(route);
        socket.send(`selected:${socket.protocol}`);
      }),
    options,
    cleanups,
  );
  return `${base}/`;
}

describe('@wskit/koa handleProtocols', () => {
  test('a plugin-wide handleProtocols picks the subprotocol from the offered set', async () => {
    const seen: string[][] = [];
    const url = await serve({
      handleProtocols: (offered) => {
        seen.push([...offered]);
        return offered.has('v2') ? 'v2' : false;
      },
    });
    const client = await open(url, ['v1', 'v2']);
    cleanups.push(() => client.terminate());
    expect(seen).toEqual([['v1', 'v2']]);
    expect(client.protocol).toBe('v2');
    expect(await nextMessage(client)).toBe('selected:v2');
  });

  test('handleProtocols returning false selects none: a client that insists on a protocol fails the handshake', async () => {
    const url = await serve({ handleProtocols: () => false });
    await expect(open(url, ['only-this'])).rejects.toThrow(/subprotocol/i);
  });

  test("handleProtocols wins over protocols; a route's own protocols replaces the plugin-wide chooser", async () => {
    const both = await serve({ handleProtocols: () => 'b', protocols: ['a'] });
    const first = await open(both, ['a', 'b']);
    cleanups.push(() => first.terminate());
    expect(first.protocol).toBe('b');

    const routeList = await serve({ handleProtocols: () => 'b' }, { protocols: ['a'] });
    const second = await open(routeList, ['a', 'b']);
    cleanups.push(() => second.terminate());
    expect(second.protocol).toBe('a');
  });
});
