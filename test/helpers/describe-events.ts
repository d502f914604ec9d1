/** Short, diff-friendly labels for what a peer sent: small payloads verbatim, large ones by size and digest. */
import { createHash } from 'node:crypto';
import type { PeerEvent } from './raw-peer.js';

function show(data: Buffer, asText: boolean): string {
  if (data.length <= 32) return asText ? JSON.stringify(data.toString()) : `0x${data.toString('hex')}`;
  return `${data.length}B#${createHash('sha1').update(data).digest('hex').slice(0, 12)}`;
}

export function label(event: PeerEvent): string {
  switch (event.type) {
    case 'text':
      return `text ${show(Buffer.from(event.data), true)}${event.valid ? '' : ' (invalid utf-8)'}`;
    case 'binary':
      return `binary ${show(event.data, false)}`;
    case 'ping':
      return `ping ${show(event.data, false)}`;
    case 'pong':
      return `pong ${show(event.data, false)}`;
    case 'close':
      return `close ${event.code ?? 'empty'}`;
  }
}

export const text = (data: string): string => label({ type: 'text', data, valid: true });
export const binary = (data: Buffer): string => label({ type: 'binary', data });
export const pong = (data: Buffer | string = Buffer.alloc(0)): string =>
  label({ type: 'pong', data: Buffer.from(data) });
export const ping = (data: Buffer | string = Buffer.alloc(0)): string =>
  label({ type: 'ping', data: Buffer.from(data) });
