/**
 * Frame-level rules of RFC 6455 §5: each violation, written as raw bytes, fails the connection with the
 * RFC close code on the wire and an 'error' event carrying a typed error. The same table runs against a
 * `ws` server as control (close code and error code must agree); wskit-only rows say why.
 */
import { WebSocket, WebSocketServer } from '@wskit/core';
import type { WebSocket as WsSocket, WebSocketServer as WsServer } from 'ws';
import {
  OP,
  closePayload,
  delay,
  frame,
  rawServer,
  rawUpgraded,
  shutdown,
  within,
  wskitServer,
  wsServer,
  type RawClient,
} from './helpers.js';

interface Row {
  name: string;
  bytes: () => Buffer[];
  closeCode: number;
  errorCode: string;
  /** Only wskit is held to this row (ws differs; see the row's comment). */
  wskitOnly?: boolean;
}

const MAX_PAYLOAD = 1024;
const bad = Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80]); // surrogate

const rows: Row[] = [
  {
    name: 'unmasked client frame',
    bytes: () => [frame(OP.text, 'hi', { mask: false })],
    closeCode: 1002,
    errorCode: 'WS_ERR_EXPECTED_MASK',
  },
  {
    name: 'RSV1 without permessage-deflate',
    bytes: () => [frame(OP.text, 'hi', { rsv1: true })],
    closeCode: 1002,
    errorCode: 'WS_ERR_UNEXPECTED_RSV_1',
  },
  {
    name: 'RSV2 set',
    bytes: () => [frame(OP.binary, 'hi', { rsv2: true })],
    closeCode: 1002,
    errorCode: 'WS_ERR_UNEXPECTED_RSV_2_3',
  },
  {
    name: 'RSV3 set',
    bytes: () => [frame(OP.binary, 'hi', { rsv3: true })],
    closeCode: 1002,
    errorCode: 'WS_ERR_UNEXPECTED_RSV_2_3',
  },
  {
    name: 'reserved data opcode 0x3',
    bytes: () => [frame(3, 'x')],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'reserved data opcode 0x7',
    bytes: () => [frame(7, 'x')],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'reserved control opcode 0xB',
    bytes: () => [frame(0xb, 'x')],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'reserved control opcode 0xF',
    bytes: () => [frame(0xf)],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'ping with 126-byte payload',
    bytes: () => [frame(OP.ping, Buffer.alloc(126))],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  },
  {
    name: 'close with 126-byte payload',
    bytes: () => [frame(OP.close, Buffer.concat([closePayload(1000), Buffer.alloc(124, 0x61)]))],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  },
  {
    name: 'fragmented ping',
    bytes: () => [frame(OP.ping, 'a', { fin: false })],
    closeCode: 1002,
    errorCode: 'WS_ERR_EXPECTED_FIN',
  },
  {
    name: 'continuation without a start',
    bytes: () => [frame(OP.cont, 'x')],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'new text message inside a fragmented one',
    bytes: () => [frame(OP.text, 'a', { fin: false }), frame(OP.text, 'b')],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'new binary message inside a fragmented one',
    bytes: () => [frame(OP.binary, 'a', { fin: false }), frame(OP.binary, 'b')],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'single frame over maxPayload',
    bytes: () => [frame(OP.binary, Buffer.alloc(MAX_PAYLOAD + 1))],
    closeCode: 1009,
    errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  },
  {
    name: 'fragments adding up over maxPayload',
    bytes: () => [
      frame(OP.binary, Buffer.alloc(MAX_PAYLOAD / 2), { fin: false }),
      frame(OP.cont, Buffer.alloc(MAX_PAYLOAD / 2 + 1)),
    ],
    closeCode: 1009,
    errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  },
  {
    name: '64-bit length 2^53',
    bytes: () => [frame(OP.binary, 'x', { fakeLength64: 2n ** 53n })],
    closeCode: 1009,
    errorCode: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
  },
  {
    name: 'invalid UTF-8 in a text frame',
    bytes: () => [frame(OP.text, bad)],
    closeCode: 1007,
    errorCode: 'WS_ERR_INVALID_UTF8',
  },
  {
    name: 'invalid UTF-8 across text fragments',
    bytes: () => [frame(OP.text, bad.subarray(0, 12), { fin: false }), frame(OP.cont, bad.subarray(12))],
    closeCode: 1007,
    errorCode: 'WS_ERR_INVALID_UTF8',
  },
  {
    name: 'text ending inside a sequence',
    bytes: () => [frame(OP.text, Buffer.from([0x61, 0xe2, 0x82]))],
    closeCode: 1007,
    errorCode: 'WS_ERR_INVALID_UTF8',
  },
  {
    name: 'invalid UTF-8 in a close reason',
    bytes: () => [frame(OP.close, closePayload(1000, Buffer.from([0xff, 0xfe])))],
    closeCode: 1007,
    errorCode: 'WS_ERR_INVALID_UTF8',
  },
  {
    name: '1-byte close payload',
    bytes: () => [frame(OP.close, Buffer.from([0x03]))],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code) => ({
    name: `close code ${code}`,
    bytes: () => [frame(OP.close, closePayload(code))],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_CLOSE_CODE',
  })),
  // RFC 6455 §5.2: "the most significant bit MUST be 0" — a protocol error; ws answers 1009 instead.
  {
    name: '64-bit length with the top bit set',
    bytes: () => [frame(OP.binary, 'x', { fakeLength64: 2n ** 63n })],
    closeCode: 1002,
    errorCode: 'WS_ERR_INVALID_PAYLOAD_LENGTH',
    wskitOnly: true,
  },
];

type AnyServer = WebSocketServer | WsServer;
type AnySocket = WebSocket | WsSocket;

async function failConnection(
  make: 'wskit' | 'ws',
  row: Row,
): Promise<{ raw: RawClient; error: Error & { code?: string; closeCode?: number }; closed: [number, string] }> {
  const options = { maxPayload: MAX_PAYLOAD };
  const { wss, port } = make === 'wskit' ? await wskitServer(options) : await wsServer(options);
  try {
    const peer = new Promise<AnySocket>((resolve) =>
      (wss as AnyServer).once('connection', (ws: AnySocket) => resolve(ws)),
    );
    const raw = await rawUpgraded(port);
    const ws = await peer;
    const error = new Promise<Error & { code?: string; closeCode?: number }>((resolve) =>
      (ws as WebSocket).once('error', resolve),
    );
    const closed = new Promise<[number, string]>((resolve) =>
      (ws as WebSocket).once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
    );
    const messages: unknown[] = [];
    ws.on('message', (m: unknown) => messages.push(m));
    for (const bytes of row.bytes()) raw.write(bytes);
    const result = {
      raw,
      error: await within(error, 2000, 'error event'),
      closed: await within(closed, 3000, 'close event'),
    };
    await within(raw.closed, 2000, 'TCP close');
    expect(messages).toHaveLength(0);
    return result;
  } finally {
    await shutdown(wss as AnyServer);
  }
}

describe.each(['wskit', 'ws'] as const)('%s server fails the connection', (make) => {
  test.each(rows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    if (make === 'ws' && row.wskitOnly) return;
    const { raw, error, closed } = await failConnection(make, row);
    expect(raw.closeCode()).toBe(row.closeCode);
    expect(raw.closeFrame()?.masked).toBe(false);
    expect(error.code).toBe(row.errorCode);
    if (make === 'wskit') expect(error.closeCode).toBe(row.closeCode);
    // No close frame was received from the peer, so the connection close code is 1006 (RFC 6455 §7.1.5).
    expect(closed[0]).toBe(1006);
    // The server closes the TCP connection after its close frame.
    expect(raw.gotEnd).toBe(true);
  });
});

describe('detection time', () => {
  test('invalid UTF-8 in the first fragment fails the message before its final fragment is sent', async () => {
    const { wss, port } = await wskitServer();
    try {
      const errored = new Promise<Error & { code?: string }>((resolve) =>
        wss.once('connection', (ws) => ws.once('error', resolve)),
      );
      const raw = await rawUpgraded(port);
      raw.write(frame(OP.text, Buffer.from([0x61, 0xc0, 0x80]), { fin: false }));
      const error = await within(errored, 2000, 'error after the first fragment');
      expect(error.code).toBe('WS_ERR_INVALID_UTF8');
      expect(await raw.until(() => raw.closeCode() === 1007)).toBe(true);
      // Only now would the final fragment go out.
      raw.write(frame(OP.cont, 'b'));
    } finally {
      await shutdown(wss);
    }
  });

  test('a truncated sequence split across fragments is accepted when the next fragment completes it', async () => {
    const { wss, port } = await wskitServer();
    try {
      const got = new Promise<[Buffer, boolean]>((resolve) =>
        wss.once('connection', (ws) => ws.once('message', (d: Buffer, b: boolean) => resolve([d, b]))),
      );
      const raw = await rawUpgraded(port);
      const euro = Buffer.from('€uro');
      raw.write(frame(OP.text, euro.subarray(0, 1), { fin: false }));
      raw.write(frame(OP.cont, euro.subarray(1, 2), { fin: false }));
      raw.write(frame(OP.cont, euro.subarray(2)));
      const [data, isBinary] = await within(got, 2000, 'message');
      expect(data.toString()).toBe('€uro');
      expect(isBinary).toBe(false);
      raw.socket.destroy();
    } finally {
      await shutdown(wss);
    }
  });

  test('payload over maxPayload is refused from the header, before the payload arrives', async () => {
    const { wss, port } = await wskitServer({ maxPayload: 10 });
    try {
      const errored = new Promise<Error & { code?: string; closeCode?: number }>((resolve) =>
        wss.once('connection', (ws) => ws.once('error', resolve)),
      );
      const raw = await rawUpgraded(port);
      // Header announcing 1 MiB, followed by only a few bytes.
      raw.write(frame(OP.binary, Buffer.alloc(1024 * 1024)).subarray(0, 20));
      const error = await within(errored, 2000, 'error');
      expect(error.closeCode).toBe(1009);
      expect(await raw.until(() => raw.closeCode() === 1009)).toBe(true);
    } finally {
      await shutdown(wss);
    }
  });
});

describe('skipUTF8Validation', () => {
  test('server delivers invalid UTF-8 text as-is when validation is skipped', async () => {
    const { wss, port } = await wskitServer({ skipUTF8Validation: true });
    try {
      const got = new Promise<[Buffer, boolean]>((resolve) =>
        wss.once('connection', (ws) => ws.once('message', (d: Buffer, b: boolean) => resolve([d, b]))),
      );
      const raw = await rawUpgraded(port);
      raw.write(frame(OP.text, bad));
      const [data, isBinary] = await within(got, 2000, 'message');
      expect(Buffer.compare(data, bad)).toBe(0);
      expect(isBinary).toBe(false);
      raw.socket.destroy();
    } finally {
      await shutdown(wss);
    }
  });
});

describe('wskit client fails the connection on bad server frames', () => {
  const clientRows: Array<{ name: string; bytes: Buffer; closeCode: number; errorCode: string }> = [
    {
      name: 'masked server frame',
      bytes: frame(OP.text, 'hi', { mask: true }),
      closeCode: 1002,
      errorCode: 'WS_ERR_UNEXPECTED_MASK',
    },
    {
      name: 'reserved opcode',
      bytes: frame(0xc, '', { mask: false }),
      closeCode: 1002,
      errorCode: 'WS_ERR_INVALID_OPCODE',
    },
    {
      name: 'RSV1 not negotiated',
      bytes: frame(OP.binary, 'x', { mask: false, rsv1: true }),
      closeCode: 1002,
      errorCode: 'WS_ERR_UNEXPECTED_RSV_1',
    },
    {
      name: 'invalid UTF-8',
      bytes: frame(OP.text, bad, { mask: false }),
      closeCode: 1007,
      errorCode: 'WS_ERR_INVALID_UTF8',
    },
    {
      name: 'over maxPayload',
      bytes: frame(OP.binary, Buffer.alloc(MAX_PAYLOAD + 1), { mask: false }),
      closeCode: 1009,
      errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    },
    {
      name: 'invalid close code',
      bytes: frame(OP.close, closePayload(1004), { mask: false }),
      closeCode: 1002,
      errorCode: 'WS_ERR_INVALID_CLOSE_CODE',
    },
  ];

  test.each(clientRows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    let peerFrames: Array<{ opcode: number; masked: boolean; payload: Buffer }> = [];
    let until: ((p: () => boolean, ms?: number) => Promise<boolean>) | null = null;
    const server = await rawServer((peer) => {
      peerFrames = peer.frames;
      until = peer.until;
      peer.accept({}, row.bytes);
    });
    try {
      const ws = new WebSocket(server.url, { maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
      const error = new Promise<Error & { code?: string; closeCode?: number }>((resolve) => ws.once('error', resolve));
      const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
      const e = await within(error, 2000, 'error');
      expect(e.code).toBe(row.errorCode);
      expect(e.closeCode).toBe(row.closeCode);
      expect(await until!(() => peerFrames.some((f) => f.opcode === OP.close))).toBe(true);
      const close = peerFrames.find((f) => f.opcode === OP.close)!;
      // A client's close frame is masked.
      expect(close.masked).toBe(true);
      expect(close.payload.readUInt16BE(0)).toBe(row.closeCode);
      expect(await within(closed, 3000, 'close')).toBe(1006);
    } finally {
      await server.close();
    }
  });
});

test('no crash when a server socket has no error listener and the peer sends garbage', async () => {
  const { wss, port } = await wskitServer();
  try {
    const closed = new Promise<number>((resolve) =>
      wss.once('connection', (ws) => ws.once('close', (code: number) => resolve(code))),
    );
    const raw = await rawUpgraded(port);
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02]));
    expect(await within(closed, 3000, 'close')).toBe(1006);
    expect(raw.closeCode()).toBe(1002);
    await delay(10);
  } finally {
    await shutdown(wss);
  }
});
