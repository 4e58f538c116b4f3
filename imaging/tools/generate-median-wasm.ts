/**
 * Generates imaging/median-wasm.ts: a WebAssembly SIMD (i16x8) 3x3 median for 16-bit images, as base64, from the
 * WAT text below. WABT is needed only to regenerate, not to run:
 *
 *   npm install --prefix /tmp/wabt wabt@1.0.39 && WABT=/tmp/wabt/node_modules/wabt npx tsx imaging/tools/generate-median-wasm.ts
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// Sort three vectors lane-wise: after it, $a <= $b <= $c in every lane.
const sort3 = (a: string, b: string, c: string) => `
    (local.set $t (i16x8.min_u (local.get ${a}) (local.get ${b})))
    (local.set ${b} (i16x8.max_u (local.get ${a}) (local.get ${b})))
    (local.set ${a} (local.get $t))
    (local.set $t (i16x8.min_u (local.get ${b}) (local.get ${c})))
    (local.set ${c} (i16x8.max_u (local.get ${b}) (local.get ${c})))
    (local.set ${b} (local.get $t))
    (local.set $t (i16x8.min_u (local.get ${a}) (local.get ${b})))
    (local.set ${b} (i16x8.max_u (local.get ${a}) (local.get ${b})))
    (local.set ${a} (local.get $t))`;

// Loads the eight columns at byte offset `at` of the three rows and sorts each column: $p0 <= $p1 <= $p2.
const sortedColumns = (p: string, at: string) => `
    (local.set ${p}0 (v128.load (i32.add (local.get $r0) ${at})))
    (local.set ${p}1 (v128.load (i32.add (local.get $r1) ${at})))
    (local.set ${p}2 (v128.load (i32.add (local.get $r2) ${at})))
    ${sort3(`${p}0`, `${p}1`, `${p}2`)}`;

// Every lane set to lane `lane` of each of $p0..$p2: the replicated border column beside the row's first or last.
const replicate = (to: string, from: string, lane: number) =>
  [0, 1, 2]
    .map(
      (i) => `
    (local.set ${to}${i} (i16x8.splat (i16x8.extract_lane_u ${lane} (local.get ${from}${i}))))`,
    )
    .join('');

// Lane i takes column i-1 (from the previous chunk for lane 0) or column i+1 (from the next chunk for lane 7).
const LEFT = '14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29';
const RIGHT = '2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17';
const shuffle = (bytes: string, a: string, b: string) =>
  `(i8x16.shuffle ${bytes} (local.get ${a}) (local.get ${b}))`;

// median16(src, dst, stride, height): every row of `stride` pixels (a multiple of 8; rows above/below clamped, left
// and right borders replicated), eight pixels at a time. Each eight-column chunk is loaded and sorted vertically
// once; its left and right neighbour columns are lane shifts of the sorted previous/current/next chunks, so no load
// is unaligned and none leaves the row.
const wat = `(module
  (memory (export "memory") 1)
  (func (export "median16") (param $src i32) (param $dst i32) (param $w i32) (param $h i32)
    (local $y i32) (local $off i32) (local $row i32) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $out i32)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $c0 v128) (local $c1 v128) (local $c2 v128)
    (local $n0 v128) (local $n1 v128) (local $n2 v128) (local $t v128) (local $l v128) (local $r v128)
    (local $lo v128) (local $hi v128) (local $mid v128)
    (local.set $row (i32.shl (local.get $w) (i32.const 1)))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $h)))
        (local.set $r1 (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $row))))
        (local.set $r0 (select (i32.sub (local.get $r1) (local.get $row)) (local.get $r1) (i32.gt_u (local.get $y) (i32.const 0))))
        (local.set $r2 (select (i32.add (local.get $r1) (local.get $row)) (local.get $r1)
          (i32.lt_u (i32.add (local.get $y) (i32.const 1)) (local.get $h))))
        (local.set $out (i32.add (local.get $dst) (i32.mul (local.get $y) (local.get $row))))
        ${sortedColumns('$c', '(i32.const 0)')}
        ${replicate('$p', '$c', 0)}
        (local.set $off (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $off) (local.get $row)))
            (if (i32.lt_u (i32.add (local.get $off) (i32.const 16)) (local.get $row))
              (then ${sortedColumns('$n', '(i32.add (local.get $off) (i32.const 16))')})
              (else ${replicate('$n', '$c', 7)}))
            (local.set $lo (i16x8.max_u (i16x8.max_u ${shuffle(LEFT, '$p0', '$c0')} (local.get $c0)) ${shuffle(RIGHT, '$c0', '$n0')}))
            (local.set $hi (i16x8.min_u (i16x8.min_u ${shuffle(LEFT, '$p2', '$c2')} (local.get $c2)) ${shuffle(RIGHT, '$c2', '$n2')}))
            (local.set $l ${shuffle(LEFT, '$p1', '$c1')})
            (local.set $r ${shuffle(RIGHT, '$c1', '$n1')})
            (local.set $mid (i16x8.max_u (i16x8.min_u (local.get $l) (local.get $c1))
              (i16x8.min_u (i16x8.max_u (local.get $l) (local.get $c1)) (local.get $r))))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (i16x8.max_u (i16x8.min_u (local.get $lo) (local.get $mid))
                (i16x8.min_u (i16x8.max_u (local.get $lo) (local.get $mid)) (local.get $hi))))
            (local.set $p0 (local.get $c0)) (local.set $p1 (local.get $c1)) (local.set $p2 (local.get $c2))
            (local.set $c0 (local.get $n0)) (local.set $c1 (local.get $n1)) (local.set $c2 (local.get $n2))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $cols)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows)))))
`;

const require = createRequire(import.meta.url);
const wabt: any = await (require(process.env.WABT ?? 'wabt') as () => Promise<unknown>)();
const parsed = wabt.parseWat('median16.wat', wat, { simd: true });
parsed.validate();
const { buffer } = parsed.toBinary({}) as { buffer: Uint8Array };
const out = path.resolve(import.meta.dirname, '../median-wasm.ts');
fs.writeFileSync(
  out,
  `// Generated by imaging/tools/generate-median-wasm.ts (WAT source there). Do not edit.\n` +
    `export const MEDIAN16_WASM_BASE64 =\n  '${Buffer.from(buffer).toString('base64')}';\n`,
);
process.stdout.write(`wrote ${buffer.length} bytes of WebAssembly to ${out}\n`);
