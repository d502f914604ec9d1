/**
 * The server conformance table: one row per case, bytes a client sends and what RFC 6455 / RFC 7692
 * require the server to do. `ws` holds the control's actual behaviour where it deviates (see DIFFERENCES.md).
 */
import { deflateRawSync } from 'node:zlib';
import { closePayload, encodeFrame, OP, type FrameSpec } from '../helpers/frames.js';
import type { RawClientOptions } from '../helpers/raw-peer.js';
import { binary, pong, text } from '../helpers/describe-events.js';

export interface ServerOutcome {
  /** HTTP status of the handshake response (101 unless given). */
  status?: number;
  /** Response headers to check: a string/RegExp must match, null must be absent. */
  headers?: Record<string, string | RegExp | null>;
  /** Non-close events the server sends, in order (labels from describe-events). */
  events?: string[];
  /**
   * The close frame the server sends, then closes TCP. undefined: the connection stays open, and the
   * harness finishes with a clean close 1000 that must be echoed. null: a close frame with no code.
   */
  close?: number | null;
  /** With `rest`: the server fails the connection before the rest of the message arrives. */
  early?: boolean;
  /** A refused handshake leaves the TCP connection open (HTTP keep-alive) instead of closing it. */
  keepAlive?: boolean;
}

export interface ServerCase {
  id: string;
  title: string;
  server?: { perMessageDeflate?: boolean; maxPayload?: number };
  request?: RawClientOptions;
  frames?: Buffer[];
  /** Sent only if the server has not failed the connection within a short quiet period. */
  rest?: Buffer[];
  expect: ServerOutcome;
  /** The control's (ws) actual outcome where it differs from the RFC's. */
  ws?: ServerOutcome;
}

/** A masked client frame. */
const c = (spec: FrameSpec): Buffer => encodeFrame({ mask: true, ...spec });
const closeFrame = (code?: number, reason: Buffer | string = ''): Buffer =>
  c({ opcode: OP.close, payload: closePayload(code, reason) });
const bytes = (...values: number[]): Buffer => Buffer.from(values);
const filled = (n: number, seed = 7): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};
/** permessage-deflate payload of one message: deflate-raw with the trailing 00 00 ff ff removed. */
const compress = (data: Buffer | string): Buffer => {
  const out = deflateRawSync(Buffer.from(data), { finishFlush: 2 /* Z_SYNC_FLUSH */ });
  return out.subarray(0, out.length - 4);
};

export const DEFAULT_MAX_PAYLOAD = 20 * 1024 * 1024;
const cases: ServerCase[] = [];
const add = (row: ServerCase): void => void cases.push(row);

// --- Framing: every payload-length boundary, both data opcodes -------------------------------------
for (const n of [0, 125, 126, 127, 65535, 65536, 2 ** 24]) {
  const t = 'abcdefghij'.repeat(Math.ceil(n / 10)).slice(0, n);
  add({ id: `frame.text.${n}`, title: `text message of ${n} bytes`, frames: [c({ opcode: OP.text, payload: t })], expect: { events: [text(t)] } });
  const b = filled(n);
  add({ id: `frame.binary.${n}`, title: `binary message of ${n} bytes`, frames: [c({ opcode: OP.binary, payload: b })], expect: { events: [binary(b)] } });
}
add({ id: 'frame.unmasked', title: 'unmasked client frame', frames: [encodeFrame({ opcode: OP.text, payload: 'hi' })], expect: { close: 1002 } });
add({ id: 'frame.too-big.header', title: 'declared length above maxPayload (header only)', frames: [c({ opcode: OP.binary, declaredLength: DEFAULT_MAX_PAYLOAD + 1 }).subarray(0, 14)], expect: { close: 1009 } });
add({ id: 'frame.too-big.2^53', title: '64-bit length of 2^53', frames: [c({ opcode: OP.binary, declaredLength: 2n ** 53n }).subarray(0, 14)], expect: { close: 1009 } });
add({ id: 'frame.length-msb', title: '64-bit length with the most significant bit set', frames: [c({ opcode: OP.binary, declaredLength: 2n ** 63n + 5n }).subarray(0, 14)], expect: { close: 1002 }, ws: { close: 1009 } });
add({ id: 'frame.too-big.fragments', title: 'fragments whose sum exceeds maxPayload', server: { maxPayload: 1000 }, frames: [c({ opcode: OP.binary, fin: false, payload: filled(600) }), c({ opcode: OP.cont, payload: filled(600) })], expect: { close: 1009 } });
add({ id: 'frame.non-minimal-length', title: '16-bit length form for a 5-byte payload is still accepted', frames: [Buffer.concat([bytes(0x81, 0x80 | 126, 0, 5, 0, 0, 0, 0), Buffer.from('hello')])], expect: { events: [text('hello')] } });

// --- Fragmentation, with control frames interleaved --------------------------------------------------
add({ id: 'frag.text.3', title: 'text in three fragments', frames: [c({ opcode: OP.text, fin: false, payload: 'frag' }), c({ opcode: OP.cont, fin: false, payload: 'men' }), c({ opcode: OP.cont, payload: 'ted' })], expect: { events: [text('fragmented')] } });
add({ id: 'frag.binary.empty-parts', title: 'binary with empty fragments', frames: [c({ opcode: OP.binary, fin: false }), c({ opcode: OP.cont, fin: false, payload: bytes(1, 2) }), c({ opcode: OP.cont })], expect: { events: [binary(bytes(1, 2))] } });
add({ id: 'frag.text.1-byte-x100', title: 'text in 100 one-byte fragments', frames: Array.from({ length: 100 }, (_, i) => c({ opcode: i === 0 ? OP.text : OP.cont, fin: i === 99, payload: 'x' })), expect: { events: [text('x'.repeat(100))] } });
add({ id: 'frag.ping-between', title: 'ping between fragments is answered before the message completes', frames: [c({ opcode: OP.text, fin: false, payload: 'one ' }), c({ opcode: OP.ping, payload: 'p' }), c({ opcode: OP.cont, payload: 'two' })], expect: { events: [pong('p'), text('one two')] } });
add({ id: 'frag.ping-pong-between', title: 'ping and unsolicited pong between fragments', frames: [c({ opcode: OP.binary, fin: false, payload: bytes(1) }), c({ opcode: OP.pong, payload: 'x' }), c({ opcode: OP.cont, fin: false, payload: bytes(2) }), c({ opcode: OP.ping, payload: 'y' }), c({ opcode: OP.cont, payload: bytes(3) })], expect: { events: [pong('y'), binary(bytes(1, 2, 3))] } });
add({ id: 'frag.close-between', title: 'close between fragments ends the connection, message discarded', frames: [c({ opcode: OP.text, fin: false, payload: 'half' }), closeFrame(1000)], expect: { close: 1000 } });
add({ id: 'frag.cont-without-start', title: 'continuation with nothing to continue', frames: [c({ opcode: OP.cont, payload: 'x' })], expect: { close: 1002 } });
add({ id: 'frag.cont-without-start.fin0', title: 'non-final continuation with nothing to continue', frames: [c({ opcode: OP.cont, fin: false, payload: 'x' })], expect: { close: 1002 } });
add({ id: 'frag.new-message-inside', title: 'new data frame while a fragmented message is open', frames: [c({ opcode: OP.text, fin: false, payload: 'a' }), c({ opcode: OP.text, payload: 'b' })], expect: { close: 1002 } });
add({ id: 'frag.ping-fragmented', title: 'fragmented ping', frames: [c({ opcode: OP.ping, fin: false, payload: 'a' }), c({ opcode: OP.cont, payload: 'b' })], expect: { close: 1002 } });
add({ id: 'frag.close-fragmented', title: 'fragmented close', frames: [c({ opcode: OP.close, fin: false, payload: closePayload(1000) })], expect: { close: 1002 } });

// --- Ping / pong ---------------------------------------------------------------------------------------
add({ id: 'ping.empty', title: 'empty ping gets an empty pong', frames: [c({ opcode: OP.ping })], expect: { events: [pong()] } });
add({ id: 'ping.125', title: 'ping with 125-byte payload is echoed in the pong', frames: [c({ opcode: OP.ping, payload: filled(125) })], expect: { events: [pong(filled(125))] } });
add({ id: 'ping.binary-payload', title: 'ping payload with arbitrary bytes', frames: [c({ opcode: OP.ping, payload: bytes(0, 0xff, 0xfe, 0x80) })], expect: { events: [pong(bytes(0, 0xff, 0xfe, 0x80))] } });
add({ id: 'ping.126', title: 'ping with 126-byte payload', frames: [c({ opcode: OP.ping, payload: filled(126) })], expect: { close: 1002 } });
add({ id: 'ping.many', title: 'ten pings get ten pongs in order', frames: Array.from({ length: 10 }, (_, i) => c({ opcode: OP.ping, payload: `p${i}` })), expect: { events: Array.from({ length: 10 }, (_, i) => pong(`p${i}`)) } });
add({ id: 'pong.unsolicited', title: 'unsolicited pong is ignored', frames: [c({ opcode: OP.pong, payload: 'u' }), c({ opcode: OP.text, payload: 'after' })], expect: { events: [text('after')] } });
add({ id: 'pong.126', title: 'pong with 126-byte payload', frames: [c({ opcode: OP.pong, payload: filled(126) })], expect: { close: 1002 } });
add({ id: 'close.126', title: 'close with 126-byte payload', frames: [c({ opcode: OP.close, payload: Buffer.concat([closePayload(1000), filled(124)]) })], expect: { close: 1002 } });

// --- Reserved bits and opcodes -------------------------------------------------------------------------
add({ id: 'rsv.1', title: 'RSV1 without a negotiated extension', frames: [c({ opcode: OP.text, rsv1: true, payload: 'x' })], expect: { close: 1002 } });
add({ id: 'rsv.2', title: 'RSV2 set', frames: [c({ opcode: OP.text, rsv2: true, payload: 'x' })], expect: { close: 1002 } });
add({ id: 'rsv.3', title: 'RSV3 set', frames: [c({ opcode: OP.binary, rsv3: true, payload: 'x' })], expect: { close: 1002 } });
add({ id: 'rsv.all.ping', title: 'all RSV bits on a ping', frames: [c({ opcode: OP.ping, rsv1: true, rsv2: true, rsv3: true })], expect: { close: 1002 } });
add({ id: 'rsv.after-valid', title: 'RSV2 frame after a valid message: echo, then fail', frames: [c({ opcode: OP.text, payload: 'ok' }), c({ opcode: OP.text, rsv2: true, payload: 'x' })], expect: { events: [text('ok')], close: 1002 } });
for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
  add({ id: `opcode.${opcode}`, title: `reserved opcode ${opcode}`, frames: [c({ opcode, payload: 'x' })], expect: { close: 1002 } });
}

// --- UTF-8 ---------------------------------------------------------------------------------------------
const validUtf8: Array<[string, Buffer]> = [
  ['greek', Buffer.from('κόσμε')],
  ['emoji', Buffer.from('😀 mixed ascii')],
  ['U+D7FF', bytes(0xed, 0x9f, 0xbf)],
  ['U+E000', bytes(0xee, 0x80, 0x80)],
  ['U+FFFD', bytes(0xef, 0xbf, 0xbd)],
  ['U+FFFF', bytes(0xef, 0xbf, 0xbf)],
  ['U+10FFFF', bytes(0xf4, 0x8f, 0xbf, 0xbf)],
  ['BOM', bytes(0xef, 0xbb, 0xbf, 0x61)],
];
for (const [name, data] of validUtf8) {
  add({ id: `utf8.valid.${name}`, title: `valid UTF-8: ${name}`, frames: [c({ opcode: OP.text, payload: data })], expect: { events: [text(data.toString())] } });
}
const hello = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!');
add({ id: 'utf8.valid.split-every-byte', title: 'valid UTF-8 split into one-byte fragments (mid code point)', frames: [...hello].map((byte, i) => c({ opcode: i === 0 ? OP.text : OP.cont, fin: i === hello.length - 1, payload: bytes(byte) })), expect: { events: [text(hello.toString())] } });
add({ id: 'utf8.valid.split-4-byte', title: 'a 4-byte code point split 1+3 across fragments', frames: [c({ opcode: OP.text, fin: false, payload: bytes(0xf0) }), c({ opcode: OP.cont, payload: bytes(0x9f, 0x98, 0x80) })], expect: { events: [text('😀')] } });
const invalidUtf8: Array<[string, Buffer]> = [
  ['overlong.2-byte-slash', bytes(0xc0, 0xaf)],
  ['overlong.2-byte-max', bytes(0xc1, 0xbf)],
  ['overlong.3-byte', bytes(0xe0, 0x80, 0xaf)],
  ['overlong.3-byte-max', bytes(0xe0, 0x9f, 0xbf)],
  ['overlong.4-byte', bytes(0xf0, 0x80, 0x80, 0xaf)],
  ['overlong.4-byte-max', bytes(0xf0, 0x8f, 0xbf, 0xbf)],
  ['surrogate.high', bytes(0x61, 0xed, 0xa0, 0x80)],
  ['surrogate.high-last', bytes(0xed, 0xad, 0xbf)],
  ['surrogate.low', bytes(0xed, 0xb0, 0x80)],
  ['surrogate.low-last', bytes(0xed, 0xbf, 0xbf)],
  ['surrogate.pair', bytes(0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80)],
  ['above-max.U+110000', bytes(0xf4, 0x90, 0x80, 0x80)],
  ['above-max.F5', bytes(0xf5, 0x80, 0x80, 0x80)],
  ['above-max.F7', bytes(0xf7, 0xbf, 0xbf, 0xbf)],
  ['above-max.5-byte', bytes(0xf8, 0x88, 0x80, 0x80, 0x80)],
  ['above-max.6-byte', bytes(0xfc, 0x84, 0x80, 0x80, 0x80, 0x80)],
  ['truncated.2-of-2', bytes(0x61, 0xce)],
  ['truncated.2-of-3', bytes(0xe2, 0x82)],
  ['truncated.3-of-4', bytes(0xf0, 0x9f, 0x98)],
  ['truncated.mid-string', bytes(0xce, 0x61, 0x62)],
  ['invalid.FE', bytes(0x61, 0xfe)],
  ['invalid.FF', bytes(0xff)],
  ['invalid.lone-continuation', bytes(0x80)],
  ['invalid.continuation-run', bytes(0x61, 0x80, 0xbf)],
  ['invalid.C0-alone', bytes(0xc0)],
];
for (const [name, data] of invalidUtf8) {
  add({ id: `utf8.${name}`, title: `invalid UTF-8: ${name}`, frames: [c({ opcode: OP.text, payload: data })], expect: { close: 1007 } });
}
add({ id: 'utf8.split.truncated-then-ascii', title: 'code point started in one fragment, broken by the next', frames: [c({ opcode: OP.text, fin: false, payload: Buffer.concat([Buffer.from('κ'), bytes(0xce)]) }), c({ opcode: OP.cont, payload: 'xx' })], expect: { close: 1007 } });
add({ id: 'utf8.split.surrogate', title: 'surrogate split across fragments', frames: [c({ opcode: OP.text, fin: false, payload: bytes(0x61, 0xed) }), c({ opcode: OP.cont, fin: false, payload: bytes(0xa0) }), c({ opcode: OP.cont, payload: bytes(0x80) })], expect: { close: 1007 } });
add({ id: 'utf8.split.valid-then-invalid', title: 'valid fragment then an invalid one', frames: [c({ opcode: OP.text, fin: false, payload: 'fine' }), c({ opcode: OP.cont, payload: bytes(0xff) })], expect: { close: 1007 } });
add({ id: 'utf8.split.truncated-at-end', title: 'message ends inside a code point split across fragments', frames: [c({ opcode: OP.text, fin: false, payload: 'ok' }), c({ opcode: OP.cont, payload: bytes(0xe2, 0x82) })], expect: { close: 1007 } });
add({ id: 'utf8.fail-fast', title: 'invalid UTF-8 in a first fragment fails before the message ends', frames: [c({ opcode: OP.text, fin: false, payload: bytes(0x61, 0xf4, 0x90) })], rest: [c({ opcode: OP.cont, payload: 'end' })], expect: { close: 1007, early: true }, ws: { close: 1007, early: false } });
const chopped = c({ opcode: OP.text, payload: Buffer.concat([Buffer.from('κόσμε'), bytes(0xed, 0xa0, 0x80), Buffer.alloc(4096, 0x61)]) });
add({ id: 'utf8.fail-fast.single-frame', title: 'invalid UTF-8 inside one text frame fails before the frame is complete (Autobahn 6.4.4)', frames: [chopped.subarray(0, 40)], rest: [chopped.subarray(40)], expect: { close: 1007, early: true }, ws: { close: 1007, early: false } });
add({ id: 'utf8.binary-not-checked', title: 'binary messages carry any bytes', frames: [c({ opcode: OP.binary, payload: bytes(0xc0, 0xaf, 0xff, 0xed, 0xa0, 0x80) })], expect: { events: [binary(bytes(0xc0, 0xaf, 0xff, 0xed, 0xa0, 0x80))] } });

// --- Close codes ---------------------------------------------------------------------------------------
for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
  add({ id: `close.valid.${code}`, title: `close ${code} is echoed`, frames: [closeFrame(code, 'bye')], expect: { close: code } });
}
for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
  add({ id: `close.invalid.${code}`, title: `close ${code} is a protocol error`, frames: [closeFrame(code)], expect: { close: 1002 } });
}
add({ id: 'close.empty', title: 'close without payload gets a close without code', frames: [closeFrame()], expect: { close: null } });
add({ id: 'close.1-byte', title: 'close with a 1-byte payload', frames: [c({ opcode: OP.close, payload: bytes(0x03) })], expect: { close: 1002 } });
add({ id: 'close.reason-123', title: 'close with a 123-byte reason', frames: [closeFrame(1000, 'r'.repeat(123))], expect: { close: 1000 } });
add({ id: 'close.reason-utf8', title: 'close with a UTF-8 reason', frames: [closeFrame(1000, 'κόσμε')], expect: { close: 1000 } });
add({ id: 'close.reason-invalid-utf8', title: 'close reason that is not UTF-8', frames: [closeFrame(1000, bytes(0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80))], expect: { close: 1007 } });
add({ id: 'close.then-text', title: 'data after close is ignored', frames: [closeFrame(1000), c({ opcode: OP.text, payload: 'late' })], expect: { close: 1000 } });
add({ id: 'close.then-ping', title: 'ping after close gets no pong', frames: [closeFrame(1000), c({ opcode: OP.ping, payload: 'late' })], expect: { close: 1000 } });
add({ id: 'close.after-message', title: 'message, then close: echo, then close', frames: [c({ opcode: OP.text, payload: 'last' }), closeFrame(1001)], expect: { events: [text('last')], close: 1001 } });

// --- Opening handshake faults --------------------------------------------------------------------------
add({ id: 'hs.post', title: 'POST instead of GET', request: { method: 'POST' }, expect: { status: 405 } });
add({ id: 'hs.no-upgrade', title: 'missing Upgrade', request: { headers: { Upgrade: null } }, expect: { status: 400 }, ws: { status: 426, keepAlive: true } });
const handshakeRequest = (version: string, host: boolean): string =>
  [`GET / ${version}`, ...(host ? ['Host: localhost'] : []), 'Upgrade: websocket', 'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', ''].join('\r\n');
add({ id: 'hs.http-1.0', title: 'upgrade over HTTP/1.0', request: { rawRequest: handshakeRequest('HTTP/1.0', true) }, expect: { status: 400 }, ws: { status: 101 } });
add({ id: 'hs.no-host', title: 'missing Host', request: { rawRequest: handshakeRequest('HTTP/1.1', false) }, expect: { status: 400 }, ws: { status: 101 } });
add({ id: 'hs.upgrade-h2c', title: 'Upgrade: h2c', request: { headers: { Upgrade: 'h2c' } }, expect: { status: 400 } });
add({ id: 'hs.upgrade-case', title: 'Upgrade: WebSocket (case-insensitive)', request: { headers: { Upgrade: 'WebSocket' } }, expect: { status: 101 } });
add({ id: 'hs.no-connection', title: 'missing Connection', request: { headers: { Connection: null } }, expect: { status: 400 }, ws: { status: 426, keepAlive: true } });
add({ id: 'hs.connection-keep-alive', title: 'Connection: keep-alive (no upgrade token)', request: { headers: { Connection: 'keep-alive' } }, expect: { status: 400 }, ws: { status: 426, keepAlive: true } });
add({ id: 'hs.connection-list', title: 'Connection: keep-alive, Upgrade', request: { headers: { Connection: 'keep-alive, Upgrade' } }, expect: { status: 101 } });
add({ id: 'hs.no-key', title: 'missing Sec-WebSocket-Key', request: { headers: { 'Sec-WebSocket-Key': null } }, expect: { status: 400 } });
add({ id: 'hs.key-not-base64', title: 'Sec-WebSocket-Key not base64', request: { headers: { 'Sec-WebSocket-Key': 'not a key at all!!!!!!==' } }, expect: { status: 400 } });
add({ id: 'hs.key-15-bytes', title: 'Sec-WebSocket-Key of 15 bytes', request: { headers: { 'Sec-WebSocket-Key': Buffer.alloc(15, 1).toString('base64') } }, expect: { status: 400 } });
add({ id: 'hs.no-version', title: 'missing Sec-WebSocket-Version', request: { headers: { 'Sec-WebSocket-Version': null } }, expect: { status: 400 } });
add({ id: 'hs.version-7', title: 'version 7 gets 426 listing 13, 8', request: { headers: { 'Sec-WebSocket-Version': '7' } }, expect: { status: 426, headers: { 'sec-websocket-version': /^13, ?8$/ } }, ws: { status: 400, headers: { 'sec-websocket-version': /^13, ?8$/ } } });
add({ id: 'hs.version-14', title: 'version 14 gets 426', request: { headers: { 'Sec-WebSocket-Version': '14' } }, expect: { status: 426, headers: { 'sec-websocket-version': /13/ } }, ws: { status: 400, headers: { 'sec-websocket-version': /13/ } } });
add({ id: 'hs.version-8', title: 'version 8 is accepted', request: { headers: { 'Sec-WebSocket-Version': '8' } }, expect: { status: 101 } });
add({ id: 'hs.accept-key', title: '101 carries the right Sec-WebSocket-Accept', request: { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } }, expect: { status: 101, headers: { 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', upgrade: /^websocket$/i, connection: /upgrade/i } } });
add({ id: 'hs.subprotocol', title: 'first offered subprotocol is selected', request: { headers: { 'Sec-WebSocket-Protocol': 'chat, superchat' } }, expect: { status: 101, headers: { 'sec-websocket-protocol': 'chat' } } });
add({ id: 'hs.subprotocol-duplicate', title: 'duplicate subprotocol', request: { headers: { 'Sec-WebSocket-Protocol': 'chat, chat' } }, expect: { status: 400 } });
add({ id: 'hs.no-subprotocol', title: 'no subprotocol offered, none selected', expect: { status: 101, headers: { 'sec-websocket-protocol': null, 'sec-websocket-extensions': null } } });

// --- permessage-deflate negotiation (server with perMessageDeflate on) --------------------------------
const pmd = { perMessageDeflate: true };
const offer = (value: string): RawClientOptions => ({ headers: { 'Sec-WebSocket-Extensions': value } });
const noTakeover = offer('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
add({ id: 'pmd.offer', title: 'plain offer is accepted', server: pmd, request: offer('permessage-deflate'), expect: { headers: { 'sec-websocket-extensions': /^permessage-deflate(;|$)/ } } });
add({ id: 'pmd.none', title: 'no offer, no extension', server: pmd, expect: { headers: { 'sec-websocket-extensions': null } } });
add({ id: 'pmd.client-max-window-bits', title: 'offer with client_max_window_bits', server: pmd, request: offer('permessage-deflate; client_max_window_bits'), expect: { headers: { 'sec-websocket-extensions': /^permessage-deflate(;|$)/ } } });
add({ id: 'pmd.no-context-takeover', title: 'server_no_context_takeover is honoured', server: pmd, request: noTakeover, expect: { headers: { 'sec-websocket-extensions': /server_no_context_takeover/ } } });
add({ id: 'pmd.server-max-window-bits', title: 'server_max_window_bits=10 is honoured', server: pmd, request: offer('permessage-deflate; server_max_window_bits=10'), expect: { headers: { 'sec-websocket-extensions': /server_max_window_bits=10/ } } });
add({ id: 'pmd.unknown-extension', title: 'unknown extension is ignored', server: pmd, request: offer('x-webkit-unknown'), expect: { headers: { 'sec-websocket-extensions': null } } });
add({ id: 'pmd.unknown-param', title: 'offer with an unknown parameter is declined, not refused', server: pmd, request: offer('permessage-deflate; foo=1'), expect: { headers: { 'sec-websocket-extensions': null } }, ws: { status: 400 } });
add({ id: 'pmd.bad-window-bits', title: 'server_max_window_bits=7 is declined, not refused', server: pmd, request: offer('permessage-deflate; server_max_window_bits=7'), expect: { headers: { 'sec-websocket-extensions': null } }, ws: { status: 400 } });
add({ id: 'pmd.second-offer', title: 'an unacceptable first offer falls back to the second', server: pmd, request: offer('permessage-deflate; foo=1, permessage-deflate'), expect: { headers: { 'sec-websocket-extensions': /^permessage-deflate(;|$)/ } }, ws: { status: 400 } });
add({ id: 'pmd.malformed', title: 'syntactically broken extension header', server: pmd, request: offer('permessage-deflate;;'), expect: { status: 400 } });
const longText = 'compress me please '.repeat(600);
add({ id: 'pmd.echo', title: 'compressed messages are inflated and echoed', server: pmd, request: noTakeover, frames: [c({ opcode: OP.text, rsv1: true, payload: compress('Hello') }), c({ opcode: OP.text, rsv1: true, payload: compress(longText) }), c({ opcode: OP.binary, rsv1: true, payload: compress(filled(5000)) })], expect: { headers: { 'sec-websocket-extensions': /permessage-deflate/ }, events: [text('Hello'), text(longText), binary(filled(5000))] } });
const z = compress(longText);
add({ id: 'pmd.fragmented', title: 'compressed message in fragments (RSV1 on the first only)', server: pmd, request: noTakeover, frames: [c({ opcode: OP.text, rsv1: true, fin: false, payload: z.subarray(0, 10) }), c({ opcode: OP.cont, fin: false, payload: z.subarray(10, 20) }), c({ opcode: OP.cont, payload: z.subarray(20) })], expect: { events: [text(longText)] } });
add({ id: 'pmd.uncompressed', title: 'uncompressed message in a deflate session', server: pmd, request: noTakeover, frames: [c({ opcode: OP.text, payload: 'plain' })], expect: { events: [text('plain')] } });
add({ id: 'pmd.rsv1-continuation', title: 'RSV1 on a continuation frame', server: pmd, request: noTakeover, frames: [c({ opcode: OP.text, rsv1: true, fin: false, payload: z.subarray(0, 10) }), c({ opcode: OP.cont, rsv1: true, payload: z.subarray(10) })], expect: { close: 1002 } });
add({ id: 'pmd.rsv1-ping', title: 'RSV1 on a ping', server: pmd, request: noTakeover, frames: [c({ opcode: OP.ping, rsv1: true })], expect: { close: 1002 } });
add({ id: 'pmd.garbage', title: 'compressed payload that is not deflate data', server: pmd, request: noTakeover, frames: [c({ opcode: OP.binary, rsv1: true, payload: bytes(0xff, 0xff, 0xff, 0xff, 0x00) })], expect: { close: 1007 } });
add({ id: 'pmd.invalid-utf8', title: 'compressed text that inflates to invalid UTF-8', server: pmd, request: noTakeover, frames: [c({ opcode: OP.text, rsv1: true, payload: compress(bytes(0x61, 0xed, 0xa0, 0x80)) })], expect: { close: 1007 } });
add({ id: 'pmd.bomb', title: 'compressed message inflating past maxPayload', server: { perMessageDeflate: true, maxPayload: 100_000 }, request: noTakeover, frames: [c({ opcode: OP.binary, rsv1: true, payload: compress(Buffer.alloc(1_000_000)) })], expect: { close: 1009 } });

export const serverCases: readonly ServerCase[] = cases;
