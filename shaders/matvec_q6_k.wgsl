// Q6_K super-blocks (ggml block_q6_K, 210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits),
// 16 x i8 scales (one per 16 weights), f16 d; weight = d * scale * (q - 32). Each half (128 weights)
// takes 64 bytes of ql, 32 of qh and 8 scales; see ggml's dequantize_row_q6_K for the layout. Split in the
// GPU row layout (crates/gpu/src/layout.rs): a row of n blocks holds n x 208 bytes (ql, qh, scales; each
// block's 16-byte aligned), then n f16 d.
// The block's ql, qh and scales are read in 16-byte loads where its row starts aligned.
const BLOCK: u32 = 256u;

// Four 6-bit quants from four low-or-high nibbles and the 2-bit fields at `shift` of four qh bytes.
fn q6(nibbles: vec4<u32>, qh: vec4<u32>, shift: u32) -> vec4<f32> {
    return vec4<f32>(nibbles | (((qh >> vec4<u32>(shift)) & vec4<u32>(3u)) << vec4<u32>(4u))) - 32.0;
}

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let base = row + 208u * b;
    let v = base >> 2u; // the block's words: ql at v .. v + 32, qh at v + 32 .. v + 48, scales at v + 48
    var total = 0.0;
    for (var h = 0u; h < 2u; h++) {
        // The half's 8 scales, quarter j's word group k taking scale 2j + k: quarters 0 and 1's, then 2 and 3's.
        let sc01 = i8x4(word(v + 48u + 2u * h));
        let sc23 = i8x4(word(v + 49u + 2u * h));
        for (var k = 0u; k < 2u; k++) {
            let qa4 = quad(v + 16u * h + 4u * k); // ql bytes 0..32 of the half: quarter 0 low, 2 high
            let qb4 = quad(v + 16u * h + 8u + 4u * k); // ql bytes 32..64: quarter 1 low, 3 high
            let qh4 = quad(v + 32u + 8u * h + 4u * k);
            var s = vec4<f32>(0.0); // quarters 0..4
            for (var m = 0u; m < 4u; m++) {
                let qa = u8x4(qa4[m]);
                let qb = u8x4(qb4[m]);
                let qh = u8x4(qh4[m]);
                let xo = xv + 32u * h + 4u * k + m;
                s.x += dot(q6(qa & vec4<u32>(0xfu), qh, 0u), xin(xo));
                s.y += dot(q6(qb & vec4<u32>(0xfu), qh, 2u), xin(xo + 8u));
                s.z += dot(q6(qa >> vec4<u32>(4u), qh, 4u), xin(xo + 16u));
                s.w += dot(q6(qb >> vec4<u32>(4u), qh, 6u), xin(xo + 24u));
            }
            total += dot(s, vec4<f32>(sc01[k], sc01[2u + k], sc23[k], sc23[2u + k]));
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
    let scale = i8x4(word((base >> 2u) + 48u + 2u * h + j / 2u))[2u * (j % 2u) + m / 4u];
    return load_f16(row + 208u * blocks + 2u * b) * scale * q6(nibbles, qh, 2u * j);
}
