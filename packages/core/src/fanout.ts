/**
 * The write side of broadcast. A broadcast queues its frame on every recipient's framer at once (so each
 * socket keeps its own order of frames), and this pump hands the framers to their sockets a slice per
 * event-loop turn. Two reasons: a fan-out to thousands of sockets never holds the loop for more than one
 * slice (other connections are read and answered in between), and broadcasts issued while a pass is still
 * going out join the frames already waiting, so a socket receives them in one write instead of one each.
 * Each write syscall on loopback also pays for the receiver's TCP work, so under a stream of broadcasts the
 * syscall count is the cost, and it falls with the broadcast rate. A lone broadcast goes out at the next
 * setImmediate (first slice) and the loop iterations right after.
 */

/** What the pump needs of a framer. */
export interface FanoutTarget {
  /** Writes what the target holds; called once per time it was queued. */
  fanoutFlush(): void;
}

/** Sockets written per turn: about a millisecond of loopback writes, which bounds the loop's stall. */
const SLICE = 128;

let queue: Array<FanoutTarget | undefined> = [];
let head = 0;
let scheduled = false;

/** Queues `target` for the next slice; the caller makes sure a target is queued at most once at a time. */
export function queueFanout(target: FanoutTarget): void {
  queue.push(target);
  if (!scheduled) {
    scheduled = true;
    setImmediate(pump);
  }
}

function pump(): void {
  scheduled = false;
  const end = Math.min(queue.length, head + SLICE);
  while (head < end) {
    const target = queue[head]!;
    queue[head++] = undefined;
    target.fanoutFlush();
  }
  if (head === queue.length) {
    queue.length = 0;
    head = 0;
    return;
  }
  // Under a steady stream of broadcasts the queue never empties: drop the visited prefix now and then.
  if (head > 4096 && head * 2 > queue.length) {
    queue = queue.slice(head);
    head = 0;
  }
  scheduled = true;
  setImmediate(pump);
}
