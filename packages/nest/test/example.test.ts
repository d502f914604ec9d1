/** Runs examples/nest-chat as a child process against the built package and talks to it. */
import { join } from 'node:path';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { startPeer, type Peer } from '../../../test/helpers/child.js';
import { connect, refusal } from './client-helpers.js';

const root = join(__dirname, '..', '..', '..');

describe('examples/nest-chat', () => {
  let peer: Peer;

  beforeAll(async () => {
    ensureBuilt('nest');
    peer = await startPeer(process.execPath, [join(root, 'examples', 'nest-chat', 'index.mjs'), '--port', '0'], 20_000);
  }, 60_000);

  afterAll(async () => {
    await peer?.stop();
  });

  test('guarded room paths, room broadcast with ack, HTTP page, 1001 on SIGTERM', async () => {
    const base = `ws://127.0.0.1:${peer.port}`;
    expect((await refusal(`${base}/rooms/lobby`)).status).toBe(403);
    expect((await refusal(`${base}/rooms/lobby?name=admin`)).status).toBe(401);
    expect((await refusal(`${base}/lobby?name=x`)).status).toBe(404);
    const page = await fetch(`http://127.0.0.1:${peer.port}/`);
    expect(await page.text()).toContain('wskit nest chat');

    const ada = await connect(`${base}/rooms/lobby?name=ada`);
    expect(await ada.next()).toEqual({ event: 'joined', data: { room: 'lobby', name: 'ada' } });
    const bob = await connect(`${base}/rooms/lobby?name=bob`);
    expect(await ada.next()).toEqual({ event: 'joined', data: { room: 'lobby', name: 'bob' } });
    expect(await bob.next()).toEqual({ event: 'joined', data: { room: 'lobby', name: 'bob' } });
    const cy = await connect(`${base}/rooms/attic?name=cy`);
    expect(await cy.next()).toEqual({ event: 'joined', data: { room: 'attic', name: 'cy' } });

    bob.send({ event: 'say', data: 'hi all' });
    const said = { event: 'said', data: { room: 'lobby', name: 'bob', text: 'hi all' } };
    expect(await ada.next()).toEqual(said);
    expect(await bob.next()).toEqual(said);
    expect(await bob.next()).toEqual({ event: 'ack', data: { ok: true } });
    cy.send({ event: 'say', data: 'anyone?' });
    expect(await cy.next()).toMatchObject({ event: 'said', data: { room: 'attic', text: 'anyone?' } });

    bob.send({ event: 'shout', data: 1 });
    expect(await bob.next()).toMatchObject({ event: 'exception', data: { code: 'UNKNOWN_EVENT' } });

    await peer.stop();
    for (const client of [ada, bob, cy]) expect((await client.closed).code).toBe(1001);
  });
});
