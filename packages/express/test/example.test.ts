/** Runs examples/express-chat as a child process against the built package and talks to it. */
import { join } from 'node:path';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { startPeer, type Peer } from '../../../test/helpers/child.js';
import { open, refused } from './client.js';

const root = join(__dirname, '..', '..', '..');

describe('examples/express-chat', () => {
  let peer: Peer;

  beforeAll(async () => {
    ensureBuilt('express');
    peer = await startPeer(process.execPath, [join(root, 'examples', 'express-chat', 'index.mjs'), '--port', '0']);
  }, 60_000);

  afterAll(async () => {
    await peer?.stop();
  });

  test('login over HTTP, chat in a room over WebSocket, 401 without a session, 1001 on shutdown', async () => {
    const base = `127.0.0.1:${peer.port}`;
    const login = async (name: string): Promise<string> => {
      const res = await fetch(`http://${base}/login?name=${name}`, { method: 'POST' });
      expect(res.status).toBe(200);
      return res.headers.get('set-cookie')!.split(';')[0]!;
    };
    const ada = await open(`ws://${base}/rooms/lobby`, { headers: { Cookie: await login('ada') } });
    expect(JSON.parse(await ada.message(0))).toEqual({ type: 'join', room: 'lobby', name: 'ada' });
    const bob = await open(`ws://${base}/rooms/lobby`, { headers: { Cookie: await login('bob') } });
    const elsewhere = await open(`ws://${base}/rooms/attic`, { headers: { Cookie: await login('cy') } });
    expect(JSON.parse(await ada.message(1))).toEqual({ type: 'join', room: 'lobby', name: 'bob' });

    bob.ws.send('hi all');
    const said = { type: 'message', room: 'lobby', name: 'bob', text: 'hi all' };
    expect(JSON.parse(await ada.message(2))).toEqual(said);
    expect(JSON.parse(await bob.message(1))).toEqual(said);
    // The attic only ever saw its own join.
    elsewhere.ws.send('anyone?');
    expect(JSON.parse(await elsewhere.message(1))).toMatchObject({ room: 'attic', text: 'anyone?' });
    expect(elsewhere.messages).toHaveLength(2);

    const anonymous = await refused(`ws://${base}/rooms/lobby`);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toEqual({ error: 'log in first' });

    peer.child.kill('SIGTERM');
    const codes = await Promise.all([ada, bob, elsewhere].map(async (c) => (await c.closed).code));
    expect(codes).toEqual([1001, 1001, 1001]);
  });
});
