/**
 * WebSocketRouter's decisions as a client sees them: Set-Cookie on the 101 (RFC 6265 §4.1 attributes),
 * subprotocol mounts and selection (RFC 6455 §4.2.2: the server picks one the client offered), real HTTP
 * refusals (invalid handshake, unknown path, no mount for the subprotocol, a throwing or rejecting
 * handler, the decision deadline), and moving or closing the router.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { WebSocket, WebSocketRouter, type RouterRequest } from '@wskit/core';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function routerOn(options: ConstructorParameters<typeof WebSocketRouter>[1] = {}): Promise<{
  router: WebSocketRouter;
  server: Server;
  port: number;
}> {
  const server = createServer();
  const router = new WebSocketRouter(server, options);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  cleanups.push(() => router.close({ timeout: 200 }));
  return { router, server, port: (server.address() as AddressInfo).port };
}

function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(data));
    socket.write(head);
  });
}

const wsHead = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

/** Opens a client; resolves with the socket and the 101 response it got. */
function open(url: string, protocols: string[] = []): Promise<{ ws: WebSocket; res: IncomingMessage }> {
  const ws = new WebSocket(url, protocols);
  cleanups.push(() => ws.terminate());
  return new Promise((resolve, reject) => {
    let res: IncomingMessage;
    ws.once('upgrade', (response: IncomingMessage) => (res = response));
    ws.once('open', () => resolve({ ws, res }));
    ws.once('error', reject);
  });
}

test('Set-Cookie on the 101 carries every RFC 6265 attribute; extra headers too', async () => {
  const { router, port } = await routerOn();
  const expires = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
  router.mount('/login', null, (request) => {
    request.accept(null, {
      cookies: [
        {
          name: 'sid',
          value: 'abc123',
          path: '/',
          domain: 'example.com',
          expires,
          maxAge: 3600.9,
          secure: true,
          httpOnly: true,
          sameSite: 'Strict',
        },
        { name: 'theme', value: '' },
      ],
      headers: { 'X-Served-By': 'router' },
    });
  });
  const { res } = await open(`ws://127.0.0.1:${port}/login`);
  expect(res.headers['set-cookie']).toEqual([
    'sid=abc123; Path=/; Domain=example.com; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Max-Age=3600; Secure; HttpOnly; SameSite=Strict',
    'theme=',
  ]);
  expect(res.headers['x-served-by']).toBe('router');
  expect(router.clients.size).toBe(1);
});

test('cookie values and attributes that would break the header are refused: accept() throws, the client gets 500', async () => {
  const { router, port } = await routerOn();
  const thrown: unknown[] = [];
  router.mount('/:case', null, (request) => {
    const cookies = {
      space: [{ name: 'a', value: 'two words' }],
      semicolon: [{ name: 'a', value: 'x;y' }],
      path: [{ name: 'a', value: 'x', path: '/; Secure' }],
      domain: [{ name: 'a', value: 'x', domain: 'evil\r\nX-Injected: 1' }],
    }[request.params.case!];
    try {
      request.accept(null, { cookies });
    } catch (error) {
      thrown.push(error);
    }
  });
  for (const name of ['space', 'semicolon', 'path', 'domain']) {
    expect(await rawRequest(port, wsHead(`/${name}`))).toMatch(/^HTTP\/1\.1 500 /);
  }
  expect(thrown).toHaveLength(4);
  for (const error of thrown) expect(error).toBeInstanceOf(TypeError);
});

test("subprotocols: a mount's protocol, '*' for any, the handler's own choice among the offered ones", async () => {
  const { router, port } = await routerOn();
  router.mount('/chat', 'chat.v2', (request) => void request.accept());
  router.mount('/any', '*', (request: RouterRequest) => {
    expect(request.protocol).toBeNull();
    request.accept(request.requestedProtocols.at(-1) ?? null);
  });
  const v2 = await open(`ws://127.0.0.1:${port}/chat`, ['chat.v1', 'chat.v2']);
  expect(v2.ws.protocol).toBe('chat.v2');
  const last = await open(`ws://127.0.0.1:${port}/any`, ['a', 'b']);
  expect(last.ws.protocol).toBe('b');
  const none = await open(`ws://127.0.0.1:${port}/any`);
  expect(none.ws.protocol).toBe('');
  // The path is mounted, but not for what this client offers.
  expect(await rawRequest(port, wsHead('/chat', 'Sec-WebSocket-Protocol: chat.v1\r\n'))).toMatch(/^HTTP\/1\.1 400 /);
  expect(() => router.mount('/bad', 'not a token', () => {})).toThrow(TypeError);
});

test('accept() of a subprotocol the client did not offer answers 400; a second decision throws', async () => {
  const { router, port } = await routerOn();
  const second: unknown[] = [];
  router.mount('/pick', null, (request) => {
    expect(request.accept('superchat')).toBeNull();
    try {
      request.accept();
    } catch (error) {
      second.push(error);
    }
    request.reject(401); // already settled: ignored
  });
  const answer = await rawRequest(port, wsHead('/pick', 'Sec-WebSocket-Protocol: chat\r\n'));
  expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  expect(answer).toContain('The selected subprotocol was not requested');
  expect(second).toEqual([expect.objectContaining({ message: 'This request was already accepted or rejected' })]);
});

test('refusals: invalid handshake 400, unknown path 404, throwing or rejecting handler 500, no decision 408', async () => {
  const { router, port } = await routerOn({ decisionTimeout: 150 });
  router.mount('/sync', null, () => {
    throw new Error('handler broke');
  });
  router.mount('/async', null, async () => Promise.reject(new Error('handler broke')));
  router.mount('/silent', null, () => {});
  router.mount('/teapot', null, (request) => request.reject(418, 'short and stout', { 'X-Pot': 'tea' }));
  const noKey =
    'GET /sync HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n';
  expect(await rawRequest(port, noKey)).toMatch(/^HTTP\/1\.1 400 /);
  expect(await rawRequest(port, wsHead('/nowhere'))).toMatch(/^HTTP\/1\.1 404 /);
  expect(await rawRequest(port, wsHead('/sync'))).toMatch(/^HTTP\/1\.1 500 /);
  expect(await rawRequest(port, wsHead('/async'))).toMatch(/^HTTP\/1\.1 500 /);
  expect(await rawRequest(port, wsHead('/silent'))).toMatch(/^HTTP\/1\.1 408 /);
  const teapot = await rawRequest(port, wsHead('/teapot'));
  expect(teapot).toMatch(/^HTTP\/1\.1 418 /);
  expect(teapot).toMatch(/X-Pot: tea/);
  expect(teapot).toContain('short and stout');
});

test('unmount() and attach() to another server move the routes; close() ends sockets with 1001', async () => {
  const { router, server, port } = await routerOn();
  router.mount('/a', null, (request) => void request.accept());
  router.mount('/b', 'x', (request) => void request.accept());
  router.mount('/c', '*', (request) => void request.accept());
  router.unmount('/b', 'x').unmount('/nothing', null).unmount('/c', '*');
  expect(await rawRequest(port, wsHead('/c'))).toMatch(/^HTTP\/1\.1 404 /);
  expect(await rawRequest(port, wsHead('/b', 'Sec-WebSocket-Protocol: x\r\n'))).toMatch(/^HTTP\/1\.1 404 /);
  const { ws } = await open(`ws://127.0.0.1:${port}/a`);

  const other = createServer();
  other.listen(0, '127.0.0.1');
  await once(other, 'listening');
  cleanups.push(() => {
    other.closeAllConnections();
    return new Promise((r) => other.close(r));
  });
  router.attach(other);
  expect(server.listenerCount('upgrade')).toBe(0);
  expect(other.listenerCount('upgrade')).toBe(1);
  await open(`ws://127.0.0.1:${(other.address() as AddressInfo).port}/a`);

  const closed = once(ws, 'close');
  await router.close({ timeout: 500 });
  expect((await closed)[0]).toBe(1001);
  expect(other.listenerCount('upgrade')).toBe(0);
});
