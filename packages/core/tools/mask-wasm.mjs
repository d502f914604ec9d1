// Encodes the WebAssembly masking kernel and writes it, as base64, into src/mask-wasm-module.ts.
// The kernel is tiny, so it is assembled here by hand from the WAT below instead of pulling in a toolchain.
//
//   node packages/core/tools/mask-wasm.mjs
//
// (module
//   (memory (export "memory") 2)                     ;; 128 KiB; JS uses [0, 64 KiB) as the block buffer
//   (func (export "xor") (param $len i32) (param $mask i32)
//     (local $i i32) (local $m v128)
//     (local.set $m (i32x4.splat (local.get $mask)))
//     ;; 64 bytes per turn: four v128 XORs
//     (block (loop
//       (br_if 1 (i32.gt_u (i32.add (local.get $i) (i32.const 64)) (local.get $len)))
//       (v128.store offset=0  (local.get $i) (v128.xor (v128.load offset=0  (local.get $i)) (local.get $m)))
//       (v128.store offset=16 (local.get $i) (v128.xor (v128.load offset=16 (local.get $i)) (local.get $m)))
//       (v128.store offset=32 (local.get $i) (v128.xor (v128.load offset=32 (local.get $i)) (local.get $m)))
//       (v128.store offset=48 (local.get $i) (v128.xor (v128.load offset=48 (local.get $i)) (local.get $m)))
//       (local.set $i (i32.add (local.get $i) (i32.const 64)))
//       (br 0)))
//     ;; then 16, then 4 bytes at a time
//     (block (loop
//       (br_if 1 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $len)))
//       (v128.store (local.get $i) (v128.xor (v128.load (local.get $i)) (local.get $m)))
//       (local.set $i (i32.add (local.get $i) (i32.const 16)))
//       (br 0)))
//     (block (loop
//       (br_if 1 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $len)))
//       (i32.store (local.get $i) (i32.xor (i32.load (local.get $i)) (local.get $mask)))
//       (local.set $i (i32.add (local.get $i) (i32.const 4)))
//       (br 0)))
//     ;; the last 0–3 bytes: the mask shifts one byte per byte (i is a multiple of 4 here)
//     (block (loop
//       (br_if 1 (i32.ge_u (local.get $i) (local.get $len)))
//       (i32.store8 (local.get $i) (i32.xor (i32.load8_u (local.get $i)) (local.get $mask)))
//       (local.set $mask (i32.shr_u (local.get $mask) (i32.const 8)))
//       (local.set $i (i32.add (local.get $i) (i32.const 1)))
//       (br 0)))))
//
// The caller passes the 4 mask bytes as a little-endian word (WebAssembly memory is little-endian on
// every host).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d) => [0x0c, d],
  brIf: (d) => [0x0d, d],
  get: (n) => [0x20, n],
  set: (n) => [0x21, n],
  i32: (v) => [0x41, ...sleb(v)],
  add: [0x6a],
  gtU: [0x4b],
  geU: [0x4f],
  xor: [0x73],
  shrU: [0x76],
  load: (offset) => [0x28, 2, ...uleb(offset)],
  store: (offset) => [0x36, 2, ...uleb(offset)],
  load8: [0x2d, 0, 0],
  store8: [0x3a, 0, 0],
  vload: (offset) => [0xfd, 0x00, 4, ...uleb(offset)],
  vstore: (offset) => [0xfd, 0x0b, 4, ...uleb(offset)],
  splat: [0xfd, 0x11],
  vxor: [0xfd, 0x51],
};

function uleb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}
function sleb(n) {
  const out = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}
const vec = (items) => [...uleb(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...uleb(bytes.length), ...bytes];
const name = (s) => vec([...Buffer.from(s)]);

const LEN = 0,
  MASK = 1,
  I = 2,
  M = 3;
/** while (i + step <= len) { body; i += step } */
const stepLoop = (step, body, cond = [...op.get(I), ...op.i32(step), ...op.add, ...op.get(LEN), ...op.gtU]) => [
  ...op.block,
  ...op.loop,
  ...cond,
  ...op.brIf(1),
  ...body,
  ...op.get(I),
  ...op.i32(step),
  ...op.add,
  ...op.set(I),
  ...op.br(0),
  ...op.end,
  ...op.end,
];
const vxorAt = (offset) => [
  ...op.get(I),
  ...op.get(I),
  ...op.vload(offset),
  ...op.get(M),
  ...op.vxor,
  ...op.vstore(offset),
];

const body = [
  ...vec([
    [1, I32],
    [1, V128],
  ]),
  ...op.get(MASK),
  ...op.splat,
  ...op.set(M),
  ...stepLoop(64, [...vxorAt(0), ...vxorAt(16), ...vxorAt(32), ...vxorAt(48)]),
  ...stepLoop(16, vxorAt(0)),
  ...stepLoop(4, [...op.get(I), ...op.get(I), ...op.load(0), ...op.get(MASK), ...op.xor, ...op.store(0)]),
  ...stepLoop(
    1,
    [
      ...op.get(I),
      ...op.get(I),
      ...op.load8,
      ...op.get(MASK),
      ...op.xor,
      ...op.store8,
      ...op.get(MASK),
      ...op.i32(8),
      ...op.shrU,
      ...op.set(MASK),
    ],
    [...op.get(I), ...op.get(LEN), ...op.geU],
  ),
  ...op.end,
];

const module = Uint8Array.from([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  ...section(1, vec([[0x60, ...vec([I32, I32]), ...vec([])]])),
  ...section(3, vec([[0]])),
  ...section(5, vec([[0x00, 2]])),
  ...section(
    7,
    vec([
      [...name('memory'), 0x02, 0],
      [...name('xor'), 0x00, 0],
    ]),
  ),
  ...section(10, vec([[...uleb(body.length), ...body]])),
]);

if (!WebAssembly.validate(module)) throw new Error('the encoded module does not validate');
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'mask-wasm-module.ts');
writeFileSync(
  out,
  `// Generated by packages/core/tools/mask-wasm.mjs (the WAT source is there); do not edit.\n` +
    `/** WebAssembly SIMD XOR kernel: exports \`memory\` and \`xor(length, maskWordLE)\` over memory[0, length). */\n` +
    `export const MASK_WASM_BASE64 =\n  '${Buffer.from(module).toString('base64')}';\n`,
);
console.log(`wrote ${out} (${module.length} bytes)`);
