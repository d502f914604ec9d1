/**
 * A test client's inbox: messages are recorded from the moment `collect` is called (a server may send in
 * the same packet as the 101, and those messages are emitted before an `await` on 'open' resumes), then
 * taken in order with `nextMessage`. Works with any socket that emits 'message' (ws or wskit).
 */
import type { EventEmitter } from 'node:events';

interface Inbox {
  queue: string[];
  waiters: ((message: string) => void)[];
}
const inboxes = new WeakMap<EventEmitter, Inbox>();

export function collect<T extends EventEmitter>(ws: T): T {
  const inbox: Inbox = { queue: [], waiters: [] };
  inboxes.set(ws, inbox);
  ws.on('message', (data: Buffer) => {
    const waiter = inbox.waiters.shift();
    if (waiter) waiter(data.toString());
    else inbox.queue.push(data.toString());
  });
  return ws;
}

export function nextMessage(ws: EventEmitter, timeout = 3000): Promise<string> {
  const inbox = inboxes.get(ws);
  if (!inbox) throw new Error('collect(ws) was not called');
  const queued = inbox.queue.shift();
  if (queued !== undefined) return Promise.resolve(queued);
  return new Promise((resolve, reject) => {
    const waiter = (message: string): void => {
      clearTimeout(timer);
      resolve(message);
    };
    const timer = setTimeout(() => {
      inbox.waiters.splice(inbox.waiters.indexOf(waiter), 1);
      reject(new Error('no message'));
    }, timeout);
    inbox.waiters.push(waiter);
  });
}

export async function messages(ws: EventEmitter, count: number, timeout = 3000): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) out.push(await nextMessage(ws, timeout));
  return out;
}
