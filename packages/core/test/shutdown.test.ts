/**
 * closeAll(): every open socket is closed with the given code, a close that throws (a code the caller may
 * not send) terminates the socket instead, and sockets already closed are not waited for.
 */
import { once } from 'node:events';
import { WebSocket, closeAll } from '@wskit/core';
import { closeOf, opened, shutdown, within, wskitServer } from './helpers.js';

async function pair(): Promise<{ stop: () => Promise<void>; peers: WebSocket[]; clients: WebSocket[] }> {
  const { wss, url } = await wskitServer({});
  const peers: WebSocket[] = [];
  wss.on('connection', (ws: WebSocket) => peers.push(ws));
  const clients = [new WebSocket(url), new WebSocket(url)];
  await Promise.all(clients.map(opened));
  await within(
    new Promise<void>((resolve) => {
      const check = (): void => (peers.length === 2 ? resolve() : void setTimeout(check, 5));
      check();
    }),
    5000,
    'connections',
  );
  return { stop: () => shutdown(wss), peers, clients };
}

describe('closeAll', () => {
  test('no open socket: resolves at once', async () => {
    await within(closeAll([]), 100, 'empty closeAll');
  });

  test('closes each socket with the code and reason; a closed socket is skipped', async () => {
    const { stop, peers, clients } = await pair();
    try {
      clients[1]!.terminate();
      await once(peers[1]!, 'close');
      const seen = closeOf(clients[0]!);
      await within(closeAll(peers, { code: 4001, reason: 'bye' }), 5000, 'closeAll');
      expect(await seen).toEqual([4001, 'bye']);
    } finally {
      await stop();
    }
  });

  test('a code close() refuses terminates the socket instead of throwing', async () => {
    const { stop, peers, clients } = await pair();
    try {
      const seen = clients.map(closeOf);
      await within(closeAll(peers, { code: 1005 }), 5000, 'closeAll with 1005');
      expect((await Promise.all(seen)).map(([code]) => code)).toEqual([1006, 1006]);
    } finally {
      await stop();
    }
  });
});
