;; The two passes of Pillow's 8-bit bilinear resize (Resample.c), in WebAssembly SIMD; the
;; coefficients come from exact-resize.ts. Sums are i32 with 22 fractional bits and start at one
;; half (Pillow's rounding); each pass ends as Pillow's clip8 does: shift right by 22, clamp to
;; 0..255 (the two saturating narrows). Loads and stores may touch up to 15 bytes past an area,
;; which exact-resize.ts leaves free. Assembled into resample.wasm by `npm run build:wasm`.
(module
  (memory (export "memory") 1)
  ;; Horizontal pass: `rows` rows of 8-bit RGB (rowBytes apart) from $src, each resampled to
  ;; $columns pixels into $dst (3 bytes each, rows back to back). Output x reads count[x] pixels
  ;; from first[x] with the fixed-point weights at weights[x * taps].
  (func (export "horizontal")
    (param $src i32) (param $rowBytes i32) (param $rows i32) (param $first i32) (param $count i32)
    (param $weights i32) (param $taps i32) (param $columns i32) (param $dst i32)
    (local $x i32) (local $p i32) (local $n i32) (local $k i32) (local $acc v128) (local $zero v128)
    (block $ydone (loop $yloop
      (br_if $ydone (i32.eqz (local.get $rows)))
      (local.set $x (i32.const 0))
      (block $xdone (loop $xloop
        (br_if $xdone (i32.ge_u (local.get $x) (local.get $columns)))
        (local.set $p (i32.add (local.get $src)
          (i32.mul (i32.load (i32.add (local.get $first) (i32.shl (local.get $x) (i32.const 2)))) (i32.const 3))))
        (local.set $n (i32.load (i32.add (local.get $count) (i32.shl (local.get $x) (i32.const 2)))))
        (local.set $k (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $x) (local.get $taps)) (i32.const 2))))
        (local.set $acc (v128.const i32x4 2097152 2097152 2097152 2097152))
        (block $tdone (loop $tloop
          (br_if $tdone (i32.eqz (local.get $n)))
          (local.set $acc (i32x4.add (local.get $acc)
            (i32x4.mul
              (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $p))))
              (i32x4.splat (i32.load (local.get $k))))))
          (local.set $p (i32.add (local.get $p) (i32.const 3)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $tloop)))
        (v128.store32_lane 0 (local.get $dst)
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $acc) (i32.const 22)) (local.get $zero))
            (local.get $zero)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 3)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $xloop)))
      (local.set $src (i32.add (local.get $src) (local.get $rowBytes)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $yloop))))

  ;; Vertical pass: $outRows rows of $stride bytes into $dst; output row y sums count[y] rows of
  ;; $temp from row first[y] with the weights at weights[y * taps]. 16 bytes at a time.
  (func (export "vertical")
    (param $temp i32) (param $stride i32) (param $outRows i32) (param $first i32) (param $count i32)
    (param $weights i32) (param $taps i32) (param $dst i32)
    (local $y i32) (local $x i32) (local $p i32) (local $n i32) (local $k i32) (local $row i32) (local $cnt i32) (local $d i32)
    (local $w v128) (local $v v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $ydone (loop $yloop
      (br_if $ydone (i32.ge_u (local.get $y) (local.get $outRows)))
      (local.set $row (i32.add (local.get $temp)
        (i32.mul (i32.load (i32.add (local.get $first) (i32.shl (local.get $y) (i32.const 2)))) (local.get $stride))))
      (local.set $cnt (i32.load (i32.add (local.get $count) (i32.shl (local.get $y) (i32.const 2)))))
      (local.set $x (i32.const 0))
      (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $y) (local.get $stride))))
      (block $xdone (loop $xloop
        (br_if $xdone (i32.ge_u (local.get $x) (local.get $stride)))
        (local.set $a0 (v128.const i32x4 2097152 2097152 2097152 2097152))
        (local.set $a1 (local.get $a0))
        (local.set $a2 (local.get $a0))
        (local.set $a3 (local.get $a0))
        (local.set $p (i32.add (local.get $row) (local.get $x)))
        (local.set $k (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $y) (local.get $taps)) (i32.const 2))))
        (local.set $n (local.get $cnt))
        (block $tdone (loop $tloop
          (br_if $tdone (i32.eqz (local.get $n)))
          (local.set $w (i32x4.splat (i32.load (local.get $k))))
          (local.set $v (v128.load (local.get $p)))
          (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
          (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
          (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $w))))
          (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $w))))
          (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $w))))
          (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $w))))
          (local.set $p (i32.add (local.get $p) (local.get $stride)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $tloop)))
        ;; A row whose length is no multiple of 16 spills into the next row, written after it.
        (v128.store (local.get $d)
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
            (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $xloop)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $yloop))))
)
