/**
 * HTTP/2 test peers for RFC 8441: a client session that waits for the server's SETTINGS, and a raw
 * extended CONNECT whose stream carries hand-made frames. The certificate is test/helpers/tls.ts's.
 */
import * as http2 from 'node:http2';

/** A client session whose peer SETTINGS have arrived (so extended CONNECT may be used). */
export async function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, maxSessionMemory: 256 });
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

export interface H2Open {
  status: number;
  headers: http2.IncomingHttpHeaders;
  stream: http2.ClientHttp2Stream;
}

/** Opens an extended CONNECT stream by hand; resolves with the response head. */
export function openStream(
  session: http2.ClientHttp2Session,
  path = '/',
  headers: http2.OutgoingHttpHeaders = {},
): Promise<H2Open> {
  const stream = session.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': path,
      ':authority': 'localhost',
      'sec-websocket-version': '13',
      ...headers,
    },
    { endStream: false },
  );
  stream.on('error', () => {});
  return new Promise((resolve, reject) => {
    stream.once('response', (head) => resolve({ status: Number(head[':status']), headers: head, stream }));
    stream.once('close', () => reject(new Error(`stream closed before a response (rstCode ${stream.rstCode})`)));
  });
}
