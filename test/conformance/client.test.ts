/**
 * RFC 6455 client conformance, mirrored: a raw-bytes fake server (net.Server, handshake by hand) sends
 * frames to the client under test, which echoes every message; we check what the client sends back
 * (always masked), and which close code it fails the connection with.
 */
import { closePayload, encodeFrame, OP, type FrameSpec } from '../helpers/frames.js';
import { acceptKey, rawServer, toEvents, type RawConnection, type RawServerHandshake } from '../helpers/raw-peer.js';
import { binary, label, pong, text } from '../helpers/describe-events.js';
import { implementations } from '../helpers/implementations.js';

interface ClientCase {
  id: string;
  /** Answer the handshake by hand; default is a correct 101. */
  answer?: (h: RawServerHandshake) => RawConnection | null;
  frames?: Buffer[];
  /** Events the client sends (labels), then its close code; undefined close = stays open. */
  events?: string[];
  close?: number | null;
  /** The handshake must fail: client emits 'error' and never 'open'. */
  refused?: boolean;
  /** Client options for this row (merged over the defaults). */
  options?: Record<string, unknown>;
  /** The control's (ws) actual outcome where it differs from the RFC's (see DIFFERENCES.md). */
  ws?: { refused?: boolean };
}

const s = (spec: FrameSpec): Buffer => encodeFrame(spec);
const bytes = (...v: number[]): Buffer => Buffer.from(v);
const cases: ClientCase[] = [];
for (const n of [0, 125, 126, 127, 65535, 65536, 2 ** 24]) {
  const t = 'x'.repeat(n);
  const b = Buffer.alloc(n, 0xa5);
  cases.push({ id: `frame.text.${n}`, frames: [s({ opcode: OP.text, payload: t })], events: [text(t)] });
  cases.push({ id: `frame.binary.${n}`, frames: [s({ opcode: OP.binary, payload: b })], events: [binary(b)] });
}
cases.push(
  { id: 'frame.masked-by-server', frames: [s({ opcode: OP.text, mask: true, payload: 'x' })], close: 1002 },
  {
    id: 'frag.ping-between',
    frames: [
      s({ opcode: OP.text, fin: false, payload: 'a' }),
      s({ opcode: OP.ping, payload: 'p' }),
      s({ opcode: OP.cont, payload: 'b' }),
    ],
    events: [pong('p'), text('ab')],
  },
  { id: 'frag.cont-without-start', frames: [s({ opcode: OP.cont, payload: 'x' })], close: 1002 },
  {
    id: 'frag.new-message-inside',
    frames: [s({ opcode: OP.text, fin: false, payload: 'a' }), s({ opcode: OP.binary, payload: 'b' })],
    close: 1002,
  },
  {
    id: 'ping.125',
    frames: [s({ opcode: OP.ping, payload: Buffer.alloc(125, 1) })],
    events: [pong(Buffer.alloc(125, 1))],
  },
  { id: 'ping.126', frames: [s({ opcode: OP.ping, payload: Buffer.alloc(126, 1) })], close: 1002 },
  { id: 'ping.fragmented', frames: [s({ opcode: OP.ping, fin: false })], close: 1002 },
  { id: 'rsv.1', frames: [s({ opcode: OP.text, rsv1: true, payload: 'x' })], close: 1002 },
  { id: 'rsv.2', frames: [s({ opcode: OP.text, rsv2: true, payload: 'x' })], close: 1002 },
  { id: 'rsv.3', frames: [s({ opcode: OP.text, rsv3: true, payload: 'x' })], close: 1002 },
  { id: 'opcode.3', frames: [s({ opcode: 3 })], close: 1002 },
  { id: 'opcode.11', frames: [s({ opcode: 0xb })], close: 1002 },
  { id: 'utf8.overlong', frames: [s({ opcode: OP.text, payload: bytes(0xc0, 0xaf) })], close: 1007 },
  { id: 'utf8.surrogate', frames: [s({ opcode: OP.text, payload: bytes(0xed, 0xa0, 0x80) })], close: 1007 },
  { id: 'utf8.above-max', frames: [s({ opcode: OP.text, payload: bytes(0xf4, 0x90, 0x80, 0x80) })], close: 1007 },
  { id: 'utf8.truncated', frames: [s({ opcode: OP.text, payload: bytes(0xe2, 0x82) })], close: 1007 },
  {
    id: 'utf8.split-invalid',
    frames: [s({ opcode: OP.text, fin: false, payload: bytes(0xce) }), s({ opcode: OP.cont, payload: 'x' })],
    close: 1007,
  },
  {
    id: 'utf8.split-valid',
    frames: [s({ opcode: OP.text, fin: false, payload: bytes(0xce) }), s({ opcode: OP.cont, payload: bytes(0xba) })],
    events: [text('κ')],
  },
  { id: 'close.empty', frames: [s({ opcode: OP.close })], close: null },
  { id: 'close.1-byte', frames: [s({ opcode: OP.close, payload: bytes(3) })], close: 1002 },
  {
    id: 'close.reason-invalid-utf8',
    frames: [s({ opcode: OP.close, payload: closePayload(1000, bytes(0xff)) })],
    close: 1007,
  },
  {
    id: 'close.then-text',
    frames: [s({ opcode: OP.close, payload: closePayload(1000) }), s({ opcode: OP.text, payload: 'late' })],
    close: 1000,
  },
);
for (const code of [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999]) {
  cases.push({
    id: `close.valid.${code}`,
    frames: [s({ opcode: OP.close, payload: closePayload(code) })],
    close: code,
  });
}
for (const code of [0, 999, 1004, 1005, 1006, 1015, 2000, 5000]) {
  cases.push({
    id: `close.invalid.${code}`,
    frames: [s({ opcode: OP.close, payload: closePayload(code) })],
    close: 1002,
  });
}
const refuse = (id: string, answer: (h: RawServerHandshake) => RawConnection | null): void =>
  void cases.push({ id, answer, refused: true });
refuse('hs.bad-accept', (h) => h.accept({ 'Sec-WebSocket-Accept': 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }));
refuse('hs.no-accept', (h) => h.accept({ 'Sec-WebSocket-Accept': '' }));
refuse('hs.status-200', (h) => h.respond('HTTP/1.1 200 OK', { 'Content-Length': '0' }));
refuse('hs.no-upgrade', (h) => h.accept({ Upgrade: '' }));
refuse('hs.upgrade-wrong', (h) => h.accept({ Upgrade: 'h2c' }));
refuse('hs.subprotocol-not-offered', (h) => h.accept({ 'Sec-WebSocket-Protocol': 'other' }));
refuse('hs.extension-not-offered', (h) => h.accept({ 'Sec-WebSocket-Extensions': 'x-unknown' }));
refuse('hs.no-connection', (h) => h.accept({ Connection: '' }));
refuse('hs.connection-keep-alive', (h) => h.accept({ Connection: 'keep-alive' }));
refuse('hs.subprotocol-list', (h) => h.accept({ 'Sec-WebSocket-Protocol': 'a, b' }));
cases.at(-1)!.options = { protocols: ['a', 'b'] };
const withAccept = (h: RawServerHandshake): string => acceptKey(h.head.headers['sec-websocket-key'] ?? '');
refuse('hs.http-1.0-response', (h) =>
  h.respond('HTTP/1.0 101 Switching Protocols', {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': withAccept(h),
  }),
);
cases.at(-1)!.ws = { refused: false };
// permessage-deflate responses the client must refuse (RFC 7692 §5, §7.1): the client offers it here.
const pmdOffer = { perMessageDeflate: { clientMaxWindowBits: false } };
for (const [id, value, ws] of [
  ['hs.pmd-twice', 'permessage-deflate, permessage-deflate', { refused: false }],
  ['hs.pmd-bad-window-bits', 'permessage-deflate; server_max_window_bits=7', undefined],
  ['hs.pmd-unknown-param', 'permessage-deflate; foo', undefined],
  ['hs.pmd-client-bits-not-offered', 'permessage-deflate; client_max_window_bits=10', undefined],
] as const) {
  cases.push({
    id,
    answer: (h) => h.accept({ 'Sec-WebSocket-Extensions': value }),
    refused: true,
    options: pmdOffer,
    ws,
  });
}
cases.push(
  { id: 'hs.upgrade-case', answer: (h) => h.accept({ Upgrade: 'WebSocket' }) },
  { id: 'hs.connection-list-case', answer: (h) => h.accept({ Connection: 'keep-alive, UPGRADE' }) },
);

describe.each(implementations)('client conformance: $name', (impl) => {
  test.concurrent.each(cases.map((row) => [row.id, row] as const))('%s', async (_id, row) => {
    const connected = new Promise<RawConnection | null>((resolve) => {
      void rawServer((h) => {
        const connection = row.answer ? row.answer(h) : h.accept();
        if (connection && !(impl.name === 'ws' && row.ws?.refused !== undefined ? row.ws.refused : row.refused)) {
          connection.write(row.frames ?? []);
        }
        resolve(connection);
      }).then((srv) => {
        server = srv;
        const { protocols, ...options } = row.options ?? {};
        const client = new impl.WebSocket(`ws://127.0.0.1:${srv.port}/`, (protocols as string[] | undefined) ?? [], {
          perMessageDeflate: false,
          maxPayload: 32 << 20,
          ...options,
        });
        client.on('open', () => seen.push('open'));
        client.on('error', () => seen.push('error'));
        client.on('message', (data, isBinary) => client.send(data as Buffer, { binary: isBinary }));
        client.on('close', () => seen.push('close'));
        clientClosed = new Promise((r) => client.on('close', r));
      });
    });
    let server: Awaited<ReturnType<typeof rawServer>> | undefined;
    let clientClosed: Promise<unknown> = Promise.resolve();
    const seen: string[] = [];
    const refused = impl.name === 'ws' && row.ws?.refused !== undefined ? row.ws.refused : row.refused;
    try {
      const conn = await connected;
      if (refused) {
        await clientClosed;
        expect(seen.filter((e) => e !== 'close')).toEqual(['error']);
        return;
      }
      if (!conn) throw new Error('no connection');
      const want = row.events?.length ?? 0;
      const nonClose = (c: RawConnection): number => toEvents(c.frames).filter((e) => e.type !== 'close').length;
      if (row.close === undefined) {
        await conn.waitFor((c) => nonClose(c) >= want || c.closeFrame() !== undefined, 5000);
        if (!conn.closeFrame()) conn.write(s({ opcode: OP.close, payload: closePayload(1000) }));
      }
      await conn.waitFor((c) => c.closeFrame() !== undefined, 3000);
      const events = toEvents(conn.frames);
      const close = events.find((e) => e.type === 'close');
      expect({
        events: events.filter((e) => e.type !== 'close').map(label),
        close: close && close.type === 'close' ? close.code : 'none',
        allMasked: conn.frames.every((f) => f.masked),
      }).toEqual({ events: row.events ?? [], close: row.close === undefined ? 1000 : row.close, allMasked: true });
      conn.destroy();
      await clientClosed;
    } finally {
      await server?.close();
    }
  });
});
