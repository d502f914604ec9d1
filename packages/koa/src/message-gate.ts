/**
 * Holds a new socket's messages until the route is ready for them. With `await ctx.ws()` the route's
 * code after the await is the handler, and it may await more (a database, a session store) before
 * calling `socket.on('message')`. Messages are released when the route adds its first `message`
 * listener (one tick later, so listeners added together all see the first message) or when the
 * downstream middleware chain settles, whichever comes first.
 */
import { runHandler, type WebSocket } from '@wskit/core';

export function holdMessagesUntilReady(ws: WebSocket, chainSettled: Promise<unknown>): void {
  const ready = new Promise<void>((resolve) => {
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
  // runHandler pauses now and resumes once `ready` settles; `ready` never rejects.
  void runHandler(ws, () => ready);
}
