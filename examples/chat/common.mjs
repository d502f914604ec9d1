// What the five integrations share: the names they accept, the socket options, small HTTP helpers.

/** A display name: letters, digits, space, `_ . -`; 1 to 24 characters. */
export const NAME = /^[\p{L}\p{N}_. -]{1,24}$/u;
/** A room: lower-case letters, digits and `-`; 1 to 30 characters. */
export const ROOM = /^[a-z0-9-]{1,30}$/;

/** Core WebSocketServer options every demo uses (the plugins pass them through). */
export const SOCKET_OPTIONS = {
  maxPayload: 16 * 1024,
  perMessageDeflate: true,
  // Pings idle sockets every 5 s; ws.heartbeatRtt then feeds the panel's heartbeat figure.
  heartbeat: { interval: 5000, timeout: 5000 },
};

/** Validates a login body; returns the trimmed name or null. */
export function nameFrom(body) {
  const name = typeof body?.name === 'string' ? body.name.trim() : '';
  return NAME.test(name) ? name : null;
}

export const BAD_NAME = 'name: 1-24 letters, digits, spaces, _ . or -';
export const LOG_IN_FIRST = 'log in first (POST login)';
/** What a plain GET of a room URL gets once the session check passed. */
export const UPGRADE_REQUIRED = 'this URL is a WebSocket endpoint';

/** The JSON body of a request (at most 4 KiB), or null. */
export async function readJson(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) return null;
  }
  try {
    return JSON.parse(body);
  } catch {
    return null;
  }
}
