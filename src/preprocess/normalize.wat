;; normalize.ts's table, computed: 8-bit interleaved RGB -> planar float32, each value
;; ((v / 255) - mean) / std in single precision, 16 pixels at a time. Each f32 operation rounds
;; once, as Math.fround after the same operation in double does (double has more than twice
;; float's 24 bits, so the two roundings agree), so the results are the table's to the bit.
;; Assembled into normalize.wasm by `npm run build:wasm`.
(module
  (memory (export "memory") 1)
  ;; $groups groups of 16 pixels (48 bytes) from $src; channel c's 16 floats go to
  ;; $dst + c * $planeBytes, each group 64 bytes after the last. Per channel, 80 bytes at $consts:
  ;; three swizzle masks picking the channel's bytes out of the group's three 16-byte thirds (a lane
  ;; of 16 or more gives 0), then the channel's mean and std, each four times.
  (func (export "normalize")
    (param $src i32) (param $groups i32) (param $dst i32) (param $planeBytes i32) (param $consts i32)
    (local $a v128) (local $b v128) (local $c v128) (local $lo v128) (local $hi v128)
    (local $mean v128) (local $std v128) (local $k i32) (local $out i32) (local $ch i32)
    (block $done (loop $group
      (br_if $done (i32.eqz (local.get $groups)))
      (local.set $a (v128.load (local.get $src)))
      (local.set $b (v128.load offset=16 (local.get $src)))
      (local.set $c (v128.load offset=32 (local.get $src)))
      (local.set $k (local.get $consts))
      (local.set $out (local.get $dst))
      (local.set $ch (i32.const 3))
      (loop $channel
        (local.set $lo (v128.or (v128.or
          (i8x16.swizzle (local.get $a) (v128.load (local.get $k)))
          (i8x16.swizzle (local.get $b) (v128.load offset=16 (local.get $k))))
          (i8x16.swizzle (local.get $c) (v128.load offset=32 (local.get $k)))))
        (local.set $hi (i16x8.extend_high_i8x16_u (local.get $lo)))
        (local.set $lo (i16x8.extend_low_i8x16_u (local.get $lo)))
        (local.set $mean (v128.load offset=48 (local.get $k)))
        (local.set $std (v128.load offset=64 (local.get $k)))
        (v128.store (local.get $out) (f32x4.div (f32x4.sub (f32x4.div
          (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $lo)))
          (v128.const f32x4 255 255 255 255)) (local.get $mean)) (local.get $std)))
        (v128.store offset=16 (local.get $out) (f32x4.div (f32x4.sub (f32x4.div
          (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $lo)))
          (v128.const f32x4 255 255 255 255)) (local.get $mean)) (local.get $std)))
        (v128.store offset=32 (local.get $out) (f32x4.div (f32x4.sub (f32x4.div
          (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $hi)))
          (v128.const f32x4 255 255 255 255)) (local.get $mean)) (local.get $std)))
        (v128.store offset=48 (local.get $out) (f32x4.div (f32x4.sub (f32x4.div
          (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $hi)))
          (v128.const f32x4 255 255 255 255)) (local.get $mean)) (local.get $std)))
        (local.set $k (i32.add (local.get $k) (i32.const 80)))
        (local.set $out (i32.add (local.get $out) (local.get $planeBytes)))
        (local.set $ch (i32.sub (local.get $ch) (i32.const 1)))
        (br_if $channel (local.get $ch)))
      (local.set $src (i32.add (local.get $src) (i32.const 48)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
      (local.set $groups (i32.sub (local.get $groups) (i32.const 1)))
      (br $group))))
)
