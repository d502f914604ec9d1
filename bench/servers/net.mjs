// The ceiling: a plain `net` WebSocket echo with the least framing that is still correct — handshake, masked
// client frames, close/ping replies, UTF-8 check on text — and exactly one socket write per received chunk.
// No extensions (permessage-deflate is not offered), no fragmentation reassembly: frames are echoed one for one,
// which keeps the message boundaries and opcodes intact.
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { createServer } from 'node:net';
import { serveControl } from './control.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_PAYLOAD = 64 * 1024 * 1024;
const clients = new Set();

function acceptKey(key) {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

// XOR-unmasks buf[start, start+length) in place; `phase` is how many payload bytes came before this piece.
// The middle runs 32 bits at a time over an aligned view.
function unmask(buf, start, length, mask, phase) {
  let i = 0;
  while (i < length && (buf.byteOffset + start + i) % 4 !== 0) {
    buf[start + i] ^= mask[(phase + i) & 3];
    i++;
  }
  const words = (length - i) >>> 2;
  if (words > 0) {
    const k = phase + i;
    const m = mask[k & 3] | (mask[(k + 1) & 3] << 8) | (mask[(k + 2) & 3] << 16) | (mask[(k + 3) & 3] << 24);
    const view = new Int32Array(buf.buffer, buf.byteOffset + start + i, words);
    for (let w = 0; w < words; w++) view[w] ^= m;
    i += words * 4;
  }
  for (; i < length; i++) buf[start + i] ^= mask[(phase + i) & 3];
}

// Binary frames at least this long are echoed as their bytes arrive instead of being gathered first.
const STREAM_FROM = 64 * 1024;

function writeHeader(out, at, firstByte, length) {
  out[at] = firstByte;
  if (length < 126) {
    out[at + 1] = length;
    return at + 2;
  }
  if (length < 65536) {
    out[at + 1] = 126;
    out.writeUInt16BE(length, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(0, at + 2);
  out.writeUInt32BE(length, at + 6);
  return at + 10;
}

function closeFrame(code) {
  const frame = Buffer.alloc(4);
  frame[0] = 0x88;
  frame[1] = 2;
  frame.writeUInt16BE(code, 2);
  return frame;
}

class Connection {
  constructor(socket) {
    this.socket = socket;
    this.upgraded = false;
    this.closed = false;
    this.parts = []; // an incomplete header or frame, gathered until `need` bytes are there
    this.have = 0;
    this.need = 0;
    this.streaming = 0; // payload bytes still to come of a frame being echoed as it arrives
    this.streamMask = null;
    this.streamPhase = 0;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => clients.delete(this));
  }

  onData(chunk) {
    if (this.closed) return;
    const pieces = [];
    if (this.streaming > 0) {
      const take = Math.min(this.streaming, chunk.length);
      unmask(chunk, 0, take, this.streamMask, this.streamPhase);
      pieces.push(chunk.subarray(0, take));
      this.streaming -= take;
      this.streamPhase += take;
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return this.flush(pieces);
    }
    if (this.parts.length > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return this.flush(pieces);
      chunk = Buffer.concat(this.parts, this.have);
      this.parts = [];
    }
    this.need = 0;
    const used = this.upgraded ? this.frames(chunk, pieces) : this.handshake(chunk, pieces);
    if (used < chunk.length && !this.closed) {
      const rest = chunk.subarray(used);
      this.parts = [rest];
      this.have = rest.length;
      if (this.need <= this.have) this.need = this.have + 1;
    }
    this.flush(pieces);
  }

  // Everything answered for one received chunk leaves in one write (one writev when there are several pieces).
  flush(pieces) {
    if (pieces.length === 0 || this.closed) return;
    if (pieces.length === 1) {
      this.socket.write(pieces[0]);
      return;
    }
    this.socket.cork();
    for (const piece of pieces) this.socket.write(piece);
    this.socket.uncork();
  }

  handshake(chunk, pieces) {
    const end = chunk.indexOf('\r\n\r\n');
    if (end < 0) {
      if (chunk.length > 16384) this.fail('HTTP/1.1 431 Request Header Fields Too Large');
      this.need = chunk.length + 1;
      return 0;
    }
    const lines = chunk.toString('latin1', 0, end).split('\r\n');
    const headers = new Map();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const key = headers.get('sec-websocket-key');
    if (
      !lines[0].startsWith('GET ') ||
      headers.get('upgrade')?.toLowerCase() !== 'websocket' ||
      headers.get('sec-websocket-version') !== '13' ||
      !key ||
      Buffer.from(key, 'base64').length !== 16
    ) {
      this.fail('HTTP/1.1 400 Bad Request');
      return chunk.length;
    }
    pieces.push(
      Buffer.from(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
        'latin1',
      ),
    );
    this.upgraded = true;
    clients.add(this);
    return end + 4 + (end + 4 < chunk.length ? this.frames(chunk.subarray(end + 4), pieces) : 0);
  }

  fail(status) {
    this.closed = true;
    this.socket.end(`${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  // Answers every complete frame in `buf` (and starts streaming a long binary one), returns the bytes consumed.
  frames(buf, pieces) {
    // Server frames are 4 bytes shorter than the masked client frames they answer.
    const out = Buffer.allocUnsafe(buf.length);
    let o = 0;
    let i = 0;
    let closing = null;
    while (buf.length - i >= 2) {
      const b0 = buf[i];
      const b1 = buf[i + 1];
      const opcode = b0 & 0x0f;
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) header = 4;
      else if (length === 127) header = 10;
      if (buf.length - i < header + 4) {
        this.need = buf.length - i + 1;
        break;
      }
      if (length === 126) length = buf.readUInt16BE(i + 2);
      else if (length === 127) length = buf.readUInt32BE(i + 2) !== 0 ? Infinity : buf.readUInt32BE(i + 6);
      if ((b1 & 0x80) === 0 || (b0 & 0x70) !== 0 || length > MAX_PAYLOAD) {
        closing = closeFrame(length > MAX_PAYLOAD ? 1009 : 1002);
        break;
      }
      if (opcode >= 8 && (length > 125 || (b0 & 0x80) === 0)) {
        closing = closeFrame(1002);
        break;
      }
      const mask = buf.subarray(i + header, i + header + 4);
      const start = i + header + 4;
      const total = header + 4 + length;
      if (buf.length - i < total) {
        if (opcode === 0x2 && length >= STREAM_FROM) {
          const available = buf.length - start;
          o = writeHeader(out, o, b0, length);
          unmask(buf, start, available, mask, 0);
          pieces.push(out.subarray(0, o), buf.subarray(start));
          this.streaming = length - available;
          this.streamMask = Buffer.from(mask);
          this.streamPhase = available;
          return buf.length;
        }
        this.need = total;
        break;
      }
      i += total;
      if (opcode === 0x8) {
        // Echo the peer's close code (or none) and finish the connection.
        unmask(buf, start, Math.min(length, 2), mask, 0);
        closing = Buffer.from([0x88, Math.min(length, 2), ...buf.subarray(start, start + Math.min(length, 2))]);
        break;
      }
      if (opcode === 0xa) continue;
      const at = writeHeader(out, o, opcode === 0x9 ? 0x8a : b0, length);
      out.set(buf.subarray(start, start + length), at);
      unmask(out, at, length, mask, 0);
      if (opcode === 0x1 && (b0 & 0x80) !== 0 && !isUtf8(out.subarray(at, at + length))) {
        closing = closeFrame(1007);
        break;
      }
      o = at + length;
    }
    if (o > 0) pieces.push(out.subarray(0, o));
    if (closing) {
      this.flush(pieces);
      pieces.length = 0;
      this.closed = true;
      clients.delete(this);
      this.socket.end(closing);
      return buf.length;
    }
    return i;
  }
}

const server = createServer((socket) => new Connection(socket));
server.listen(0, '127.0.0.1', () => {
  serveControl({
    port: server.address().port,
    info: { impl: 'net', perMessageDeflate: false },
    clientCount: () => clients.size,
    broadcast(data) {
      const frame = Buffer.allocUnsafe(data.length + 10);
      const at = writeHeader(frame, 0, 0x82, data.length);
      data.copy(frame, at);
      const bytes = frame.subarray(0, at + data.length);
      for (const client of clients) client.socket.write(bytes);
      return 'loop of socket.write';
    },
  });
});
