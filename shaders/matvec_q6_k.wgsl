// Q6_K super-blocks (ggml block_q6_K, 210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits),
// 16 x i8 scales (one per 16 weights), f16 d; weight = d * scale * (q - 32). Each half (128 weights)
// takes 64 bytes of ql, 32 of qh and 8 scales; see ggml's dequantize_row_q6_K for the layout. Split in the
// GPU row layout (crates/gpu/src/layout.rs): a row of n blocks holds n x 208 bytes (ql, qh, scales; each
// block's 16-byte aligned), then n f16 d.
const BLOCK: u32 = 256u;

fn scale_i8(at: u32) -> f32 {
    return f32(i32(load_u8(at) << 24u) >> 24u);
}

// Four 6-bit quants from four low-or-high nibbles and the 2-bit fields at `shift` of four qh bytes.
fn q6(nibbles: vec4<u32>, qh: vec4<u32>, shift: u32) -> vec4<f32> {
    return vec4<f32>(nibbles | (((qh >> vec4<u32>(shift)) & vec4<u32>(3u)) << vec4<u32>(4u))) - 32.0;
}

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let base = row + 208u * b;
    let v = base >> 2u; // the block's words: ql at v .. v + 32, qh at v + 32 .. v + 48
    var total = 0.0;
    for (var h = 0u; h < 2u; h++) {
        let sc = base + 192u + 8u * h;
        for (var m = 0u; m < 8u; m++) {
            let is = m / 4u; // 16 weights per scale: l / 16 with l = 4m
            let qa = u8x4(word(v + 16u * h + m)); // aligned words: no two-piece reads
            let qb = u8x4(word(v + 16u * h + 8u + m));
            let qh = u8x4(word(v + 32u + 8u * h + m));
            let xo = xv + 32u * h + m;
            total += scale_i8(sc + is) * dot(q6(qa & vec4<u32>(0xfu), qh, 0u), xin(xo));
            total += scale_i8(sc + is + 2u) * dot(q6(qb & vec4<u32>(0xfu), qh, 2u), xin(xo + 8u));
            total += scale_i8(sc + is + 4u) * dot(q6(qa >> vec4<u32>(4u), qh, 4u), xin(xo + 16u));
            total += scale_i8(sc + is + 6u) * dot(q6(qb >> vec4<u32>(4u), qh, 6u), xin(xo + 24u));
        }
    }
    return load_f16(row + 208u * blocks + 2u * b) * total;
}

// Weights 4g .. 4g + 3 (g < 64) of block b (the matmul kernels' tile loader): half h = g / 32, quarter
// j = (g / 8) % 4 (ql low nibbles of bytes 0..32, of 32..64, high nibbles of 0..32, of 32..64, with qh
// bits 2j, 2j + 1), word m = g % 8; scale 2j + m / 4 of the half's 8.
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let base = row + 208u * b;
    let h = g / 32u;
    let j = (g / 8u) % 4u;
    let m = g % 8u;
    let ql = u8x4(word((base >> 2u) + 16u * h + 8u * (j % 2u) + m));
    let qh = u8x4(word((base >> 2u) + 32u + 8u * h + m));
    let nibbles = select(ql & vec4<u32>(0xfu), ql >> vec4<u32>(4u), j >= 2u);
    return load_f16(row + 208u * blocks + 2u * b) * scale_i8(base + 192u + 8u * h + m / 4u + 2u * j) * q6(nibbles, qh, 2u * j);
}
