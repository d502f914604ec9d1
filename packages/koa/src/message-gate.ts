/**
 * When a new socket's messages may flow. With `await ctx.ws()` the route's code after the await is the
 * handler, and it may await more (a database, a session store) before calling `socket.on('message')`.
 * The pipeline holds messages until the promise returned here settles: when the route adds its first
 * `message` listener (one tick later, so listeners added together all see the first message) or when
 * the downstream middleware chain settles, whichever comes first. It never rejects.
 */
import type { WebSocket } from '@wskit/core';

export function messagesReady(ws: WebSocket, chainSettled: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const release = (): void => {
      ws.removeListener('newListener', onListener);
      resolve();
    };
    const onListener = (event: string | symbol): void => {
      if (event === 'message') process.nextTick(release);
    };
    ws.on('newListener', onListener);
    chainSettled.then(release, release);
  });
}
