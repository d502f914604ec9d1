// The chat itself, shared by the five integrations: every framework only authenticates the upgrade and
// hands the accepted socket here with the session's name and the room from its router's params.
//
// Server → client (JSON text): hello { you, room, members, history }, message { id, room, from, text, at },
// presence { room, members }, stats { at, connections, messagesPerSecond, rttMs }, error { message }.
// Client → server: say { id, text } — `id` is chosen by the client, so a message re-sent after a reconnect
// is delivered once (the server remembers recent ids per room and answers a repeat with the original).
import { ClientSet } from '@wskit/core';

const HISTORY = 50;
const REMEMBERED_IDS = 500;
const MAX_TEXT = 2000;
const MAX_ROOMS = 100;

export class ChatHub {
  /** @type {Map<string, { clients: ClientSet, history: object[], byId: Map<string, object> }>} */
  #rooms = new Map();
  #all = new ClientSet();
  #members = new WeakMap();
  #received = 0;
  #timer;

  /** @param {{ statsInterval?: number }} [options] */
  constructor({ statsInterval = 1000 } = {}) {
    // The live panel: one sample per interval to every socket, whatever room it is in.
    this.#timer = setInterval(() => this.#sample(statsInterval), statsInterval);
    this.#timer.unref();
  }

  get connections() {
    return this.#all.size;
  }

  /**
   * Takes an accepted socket. `name` comes from the session, `room` from the route. With `listen: false`
   * the caller feeds messages to say() itself (the Nest gateway does, through @SubscribeMessage).
   */
  join(ws, { name, room }, { listen = true } = {}) {
    const state = this.#room(room);
    ws.on('error', () => {}); // protocol errors have already closed the socket with the right code
    this.#members.set(ws, { name, room, state });
    this.#all.track(ws);
    state.clients.track(ws);
    ws.send(JSON.stringify({ type: 'hello', you: name, room, members: this.#names(state), history: state.history }));
    this.#presence(room, state);
    if (listen) ws.on('message', (data, isBinary) => this.say(ws, isBinary ? null : parse(data)));
    ws.on('close', () => {
      this.#presence(room, state);
      // Rooms are kept (with their history) while there are few; empty ones go once there are many.
      if (state.clients.size === 0 && this.#rooms.size > MAX_ROOMS) this.#rooms.delete(room);
    });
  }

  /** A `say` message from a joined socket; anything else is answered with an error message. */
  say(ws, message) {
    this.#received++;
    const member = this.#members.get(ws);
    if (!member) return;
    if (!message || message.type !== 'say' || typeof message.text !== 'string' || typeof message.id !== 'string') {
      ws.send(JSON.stringify({ type: 'error', message: 'expected {"type":"say","id":"…","text":"…"}' }));
      return;
    }
    const { name, room, state } = member;
    const id = `${name}/${message.id.slice(0, 64)}`;
    const seen = state.byId.get(id);
    if (seen) {
      ws.send(JSON.stringify(seen)); // a re-send after a reconnect: confirm it, do not repeat it to the room
      return;
    }
    const said = { type: 'message', id, room, from: name, text: message.text.slice(0, MAX_TEXT), at: Date.now() };
    state.history.push(said);
    if (state.history.length > HISTORY) state.history.shift();
    state.byId.set(id, said);
    if (state.byId.size > REMEMBERED_IDS) state.byId.delete(state.byId.keys().next().value);
    state.clients.broadcast(JSON.stringify(said));
  }

  /** Stops the stats timer (the sockets are closed by each integration's own shutdown). */
  close() {
    clearInterval(this.#timer);
  }

  #room(room) {
    let state = this.#rooms.get(room);
    if (!state) this.#rooms.set(room, (state = { clients: new ClientSet(), history: [], byId: new Map() }));
    return state;
  }

  #names(state) {
    return [...new Set([...state.clients].map((ws) => this.#members.get(ws).name))].sort();
  }

  #presence(room, state) {
    state.clients.broadcast(JSON.stringify({ type: 'presence', room, members: this.#names(state) }));
  }

  #sample(interval) {
    const rtts = [...this.#all].map((ws) => ws.heartbeatRtt).filter((rtt) => typeof rtt === 'number');
    const rttMs = rtts.length ? Math.round((rtts.reduce((a, b) => a + b, 0) / rtts.length) * 10) / 10 : null;
    const stats = {
      type: 'stats',
      at: Date.now(),
      connections: this.#all.size,
      messagesPerSecond: Math.round((this.#received * 1000) / interval),
      rttMs,
    };
    this.#received = 0;
    this.#all.broadcast(JSON.stringify(stats));
  }
}

/** JSON text → object, or null when it is not JSON. */
export function parse(data) {
  try {
    return JSON.parse(String(data));
  } catch {
    return null;
  }
}
