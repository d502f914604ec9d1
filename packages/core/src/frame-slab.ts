/**
 * Where small outgoing frames are built: one slab shared by every framer of the process, handed out by
 * bump allocation. A framer writes a tick's frames into one contiguous region and gives the socket a
 * slice of it; bytes once handed out are never written again, so slices stay valid for as long as the
 * socket holds them, and a slab is freed by the garbage collector when its last slice is.
 *
 * Why not a fresh buffer per flush: that sizes every batch up front, and an echo of small messages then
 * allocated a mostly empty 64 KiB ArrayBuffer per socket per tick (gigabytes a second of backing stores).
 * That external-memory churn sent V8 into back-to-back mark-compacts whenever the young generation had
 * grown (plugin echo measured at 0.75x bare core that way). A slab costs exactly the bytes written.
 */

/** Frames up to this size (header included) are built in the slab. */
export const SLAB_FRAME_LIMIT = 16 * 1024 + 14;
const SLAB_SIZE = 64 * 1024;

/** The backing stores of slabs, to tell a slice of one from any other buffer. */
const slabStores = new WeakSet<ArrayBufferLike>();
let slab: Buffer = newSlab();
let used = 0;

function newSlab(): Buffer {
  const buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
  slabStores.add(buffer.buffer);
  return buffer;
}

/**
 * A copy of `piece` when it is a slab slice, else `piece`. For sockets that are not draining: what waits
 * in a stream's buffer would pin a whole slab per queued slice.
 */
export function unpinned(piece: Buffer): Buffer {
  return slabStores.has(piece.buffer) ? Buffer.from(piece) : piece;
}

/** The slab in which `need` more bytes fit at the tail (a new one when the current is full). */
export function slabWithRoom(need: number): Buffer {
  if (SLAB_SIZE - used < need) {
    slab = newSlab();
    used = 0;
  }
  return slab;
}

/** True when `buffer` is the current slab and `end` its tail: the caller may keep writing there. */
export function isSlabTail(buffer: Buffer | null, end: number, need: number): boolean {
  return buffer === slab && end === used && SLAB_SIZE - used >= need;
}

/** Offset of the current slab's first free byte. */
export function slabUsed(): number {
  return used;
}

/** Marks the current slab as written up to `end`. */
export function claimSlab(end: number): void {
  used = end;
}
