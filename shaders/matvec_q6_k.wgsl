// Q6_K super-blocks (ggml block_q6_K, 210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits),
// 16 x i8 scales (one per 16 weights), f16 d; weight = d * scale * (q - 32). Each half (128 weights)
// takes 64 bytes of ql, 32 of qh and 8 scales; see ggml's dequantize_row_q6_K for the layout. Split in the
// GPU row layout (crates/gpu/src/layout.rs): a row of n blocks holds n x 208 bytes (ql, qh, scales; each
// block's 16-byte aligned), then n f16 d.
// The block's ql, qh and scales are read in 16-byte loads where its row starts aligned.
const BLOCK: u32 = 256u;

// Four 6-bit quants from four low-or-high nibbles and the 2-bit fields at `shift` of four qh bytes.
fn q6(nibbles: vec4<u32>, qh: vec4<u32>, shift: u32) -> vec4<f32> {
    return ints_f32(nibbles | (((qh >> vec4<u32>(shift)) & vec4<u32>(3u)) << vec4<u32>(4u)), 32.0);
}

// The four quarters' sums of weights times x for one word of ql bytes 0..32 of a half (`qa`: quarter 0
// low, 2 high), of ql bytes 32..64 (`qb`: quarter 1 low, 3 high) and of qh, x's values for the quarters
// being `x0 .. x3`.
fn q6_word(
    qa: vec4<u32>, qb: vec4<u32>, qh: vec4<u32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>
) -> vec4<f32> {
    return vec4<f32>(
        dot(q6(qa & vec4<u32>(0xfu), qh, 0u), x0),
        dot(q6(qb & vec4<u32>(0xfu), qh, 2u), x1),
        dot(q6(qa >> vec4<u32>(4u), qh, 4u), x2),
        dot(q6(qb >> vec4<u32>(4u), qh, 6u), x3),
    );
}

// Half h's 8 scales of the block whose words start at v, in two words: quarters 0 and 1's, then 2 and 3's
// (quarter j's word group k takes scale 2j + k).
fn q6_half_scales(v: u32, h: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(i8x4(word(v + 48u + 2u * h)), i8x4(word(v + 49u + 2u * h)));
}

// The four quarters' scales for word group k, from `q6_half_scales`.
fn q6_scales(sc: array<vec4<f32>, 2>, k: u32) -> vec4<f32> {
    return vec4<f32>(sc[0][k], sc[0][2u + k], sc[1][k], sc[1][2u + k]);
}

// Block b of the rows at bytes `row` and `row + second` against the same x: each value of x read once for
// both.
fn block_dot2(row: u32, second: u32, b: u32, blocks: u32, xv: u32) -> vec2<f32> {
    // The blocks' words: ql at v .. v + 32, qh at v + 32 .. v + 48, scales at v + 48.
    let va = (row + 208u * b) >> 2u;
    let vb = (row + second + 208u * b) >> 2u;
    var total = vec2<f32>(0.0);
    for (var h = 0u; h < 2u; h++) {
        let sca = q6_half_scales(va, h);
        let scb = q6_half_scales(vb, h);
        for (var k = 0u; k < 2u; k++) {
            // Word group k of the half's ql (bytes 0..32, then 32..64) and qh, in 16-byte loads.
            let qa0 = quad(va + 16u * h + 4u * k);
            let qa1 = quad(va + 16u * h + 8u + 4u * k);
            let qah = quad(va + 32u + 8u * h + 4u * k);
            let qb0 = quad(vb + 16u * h + 4u * k);
            let qb1 = quad(vb + 16u * h + 8u + 4u * k);
            let qbh = quad(vb + 32u + 8u * h + 4u * k);
            var sa = vec4<f32>(0.0); // quarters 0..4
            var sb = vec4<f32>(0.0);
            for (var m = 0u; m < 4u; m++) {
                let xo = xv + 32u * h + 4u * k + m;
                let x0 = xin(xo);
                let x1 = xin(xo + 8u);
                let x2 = xin(xo + 16u);
                let x3 = xin(xo + 24u);
                sa += q6_word(u8x4(qa0[m]), u8x4(qa1[m]), u8x4(qah[m]), x0, x1, x2, x3);
                sb += q6_word(u8x4(qb0[m]), u8x4(qb1[m]), u8x4(qbh[m]), x0, x1, x2, x3);
            }
            total += vec2<f32>(dot(sa, q6_scales(sca, k)), dot(sb, q6_scales(scb, k)));
        }
    }
    let d = vec2<f32>(load_f16(row + 208u * blocks + 2u * b), load_f16(row + second + 208u * blocks + 2u * b));
    return d * total;
}

// One row: the pair's first (the second's work, on the same bytes, is dead and compiled away).
fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    return block_dot2(row, 0u, b, blocks, xv).x;
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
