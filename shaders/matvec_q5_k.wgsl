// Q5_K super-blocks (ggml block_q5_K, 176 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins,
// 32 bytes qh (bit 2c / 2c + 1 of byte l: fifth bit of weight l of chunk c's low / high half), 128 bytes of
// low nibbles; weight = d * sc * q - dmin * m.
// Kept as in the GGUF file (crates/gpu/src/layout.rs): 176-byte blocks keep every 16 bytes aligned, so a
// thread reads its super-block in 16-byte loads, as in Q4_K.
const BLOCK: u32 = 256u;
const BLOCK_BYTES: u32 = 176u;

// One super-block's fields a chunk reads besides its nibbles: the first 16 bytes (d, dmin, the scales)
// and the 32 bytes of fifth bits.
struct Q5kHead {
    head: vec4<u32>,
    qh0: vec4<u32>,
    qh1: vec4<u32>,
}

fn q5k_head(base: u32) -> Q5kHead {
    return Q5kHead(quad(base >> 2u), quad((base >> 2u) + 4u), quad((base >> 2u) + 8u));
}

// Weights 4m .. 4m + 3 of half k of chunk c (sub-block 2c, low nibbles, and 2c + 1, high nibbles), their
// fifth bits added: (low, high).
fn q5k_quants(h: Q5kHead, q: u32, c: u32, k: u32, m: u32) -> array<vec4<f32>, 2> {
    let qh = u8x4(select(h.qh0, h.qh1, k == 1u)[m]);
    let h1 = ((qh >> vec4<u32>(2u * c)) & vec4<u32>(1u)) << vec4<u32>(4u);
    let h2 = ((qh >> vec4<u32>(2u * c + 1u)) & vec4<u32>(1u)) << vec4<u32>(4u);
    return array<vec4<f32>, 2>(ints_f32(lo4u(q) | h1, 0.0), ints_f32(hi4u(q) | h2, 0.0));
}

// Chunk c of two super-blocks (bytes `base.x` and `base.y`, fields `ha` and `hb`) against the same
// x[xv * 4 ..][..64]: each value of x is read once for both, and its sums (for the mins) taken once.
fn chunk_dot2(base: vec2<u32>, ha: Q5kHead, hb: Q5kHead, c: u32, xv: u32) -> vec2<f32> {
    let sa = scale_min_k4_pair(ha.head, c);
    let sb = scale_min_k4_pair(hb.head, c);
    let at = (base >> vec2<u32>(2u)) + vec2<u32>(12u + 8u * c); // each chunk's 32 bytes of nibbles (byte 48 + 32c)
    var s1 = vec2<f32>(0.0); // sub-block 2c, rows a and b
    var s2 = vec2<f32>(0.0); // sub-block 2c + 1
    var x1 = 0.0;
    var x2 = 0.0;
    for (var k = 0u; k < 2u; k++) {
        let qa = quad(at.x + 4u * k);
        let qb = quad(at.y + 4u * k);
        for (var m = 0u; m < 4u; m++) {
            let xl = xin(xv + 4u * k + m);
            let xh = xin(xv + 8u + 4u * k + m);
            let wa = q5k_quants(ha, qa[m], c, k, m);
            let wb = q5k_quants(hb, qb[m], c, k, m);
            s1 += vec2<f32>(dot(wa[0], xl), dot(wb[0], xl));
            s2 += vec2<f32>(dot(wa[1], xh), dot(wb[1], xh));
            x1 += dot(xl, vec4<f32>(1.0));
            x2 += dot(xh, vec4<f32>(1.0));
        }
    }
    let da = unpack2x16float(ha.head.x); // (d, dmin)
    let db = unpack2x16float(hb.head.x);
    return vec2<f32>(
        da.x * (sa.x * s1.x + sa.z * s2.x) - da.y * (sa.y * x1 + sa.w * x2),
        db.x * (sb.x * s1.y + sb.z * s2.y) - db.y * (sb.y * x1 + sb.w * x2),
    );
}

// Super-block b of the rows at bytes `row` and `row + second` against the same x.
fn block_dot2(row: u32, second: u32, b: u32, blocks: u32, xv: u32) -> vec2<f32> {
    let base = vec2<u32>(row, row + second) + vec2<u32>(b * BLOCK_BYTES);
    let ha = q5k_head(base.x);
    let hb = q5k_head(base.y);
    var total = vec2<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        total += chunk_dot2(base, ha, hb, c, xv + 16u * c);
    }
    return total;
}

// One row: the pair's first (the second's work, on the same bytes, is dead and compiled away).
fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    return block_dot2(row, 0u, b, blocks, xv).x;
}

// Weights 4g .. 4g + 3 (g < 64) of super-block b (the matmul kernels' tile loader), laid out as in Q4_K,
// with fifth bits 2c (low half) and 2c + 1 (high half) of the qh bytes 4m .. 4m + 3, m = g % 8.
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let base = row + b * BLOCK_BYTES;
    let c = g / 16u;
    let hi = select(0u, 1u, (g % 16u) >= 8u);
    let m = g % 8u;
    let head = quad(base >> 2u);
    let pair = scale_min_k4_pair(head, c);
    let sm = select(pair.xy, pair.zw, hi == 1u);
    let dm = unpack2x16float(head.x);
    let q = word((base >> 2u) + 12u + 8u * c + m);
    let qh = u8x4(word((base >> 2u) + 4u + m));
    let h = ((qh >> vec4<u32>(2u * c + hi)) & vec4<u32>(1u)) << vec4<u32>(4u);
    let nib = select(lo4u(q), hi4u(q), hi == 1u);
    return dm.x * sm.x * ints_f32(nib | h, 0.0) - dm.y * sm.y;
}
