// Q4_K super-blocks (ggml block_q4_K, 144 bytes): f16 d, f16 dmin, 12 bytes of packed 6-bit scales and
// mins for 8 sub-blocks of 32, then 128 bytes of nibbles. Chunk c (0..4) holds sub-blocks 2c (low
// nibbles) and 2c + 1 (high nibbles); weight = d * sc * q - dmin * m.
// Kept as in the GGUF file (crates/gpu/src/layout.rs): 144-byte blocks keep every 16 bytes aligned, so a
// thread reads its super-block in 16-byte loads: d, dmin and the scales in one, each chunk in two.
const BLOCK: u32 = 256u;
const BLOCK_BYTES: u32 = 144u;

// Chunk c of two super-blocks (bytes `base.x` and `base.y`, first 16 bytes `ha` and `hb`) against the same
// x[xv * 4 ..][..64]: each value of x is read once for both, and its sums (for the mins) taken once.
fn chunk_dot2(base: vec2<u32>, ha: vec4<u32>, hb: vec4<u32>, c: u32, xv: u32) -> vec2<f32> {
    let sa = scale_min_k4_pair(ha, c);
    let sb = scale_min_k4_pair(hb, c);
    let at = (base + vec2<u32>(16u + 32u * c)) >> vec2<u32>(2u); // each chunk's 32 bytes
    var s1 = vec2<f32>(0.0); // sub-block 2c (low nibbles), rows a and b
    var s2 = vec2<f32>(0.0); // sub-block 2c + 1 (high nibbles)
    var x1 = 0.0;
    var x2 = 0.0;
    for (var k = 0u; k < 2u; k++) {
        let qa = quad(at.x + 4u * k);
        let qb = quad(at.y + 4u * k);
        for (var m = 0u; m < 4u; m++) {
            let xl = xin(xv + 4u * k + m);
            let xh = xin(xv + 8u + 4u * k + m);
            s1 += vec2<f32>(dot(lo4(qa[m], 0.0), xl), dot(lo4(qb[m], 0.0), xl));
            s2 += vec2<f32>(dot(hi4(qa[m], 0.0), xh), dot(hi4(qb[m], 0.0), xh));
            x1 += dot(xl, vec4<f32>(1.0));
            x2 += dot(xh, vec4<f32>(1.0));
        }
    }
    let da = unpack2x16float(ha.x); // (d, dmin)
    let db = unpack2x16float(hb.x);
    return vec2<f32>(
        da.x * (sa.x * s1.x + sa.z * s2.x) - da.y * (sa.y * x1 + sa.w * x2),
        db.x * (sb.x * s1.y + sb.z * s2.y) - db.y * (sb.y * x1 + sb.w * x2),
    );
}

// Super-block b of the rows at bytes `row` and `row + second` against the same x.
fn block_dot2(row: u32, second: u32, b: u32, blocks: u32, xv: u32) -> vec2<f32> {
    let base = vec2<u32>(row, row + second) + vec2<u32>(b * BLOCK_BYTES);
    let ha = quad(base.x >> 2u);
    let hb = quad(base.y >> 2u);
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

// Weights 4g .. 4g + 3 (g < 64) of super-block b (the matmul kernels' tile loader): chunk c = g / 16;
// its groups 0..8 are the low nibbles of word g % 8 (sub-block 2c), groups 8..16 the high ones (sub-block
// 2c + 1).
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let base = row + b * BLOCK_BYTES;
    let c = g / 16u;
    let high = (g % 16u) >= 8u;
    let head = quad(base >> 2u);
    let pair = scale_min_k4_pair(head, c);
    let sm = select(pair.xy, pair.zw, high);
    let dm = unpack2x16float(head.x);
    let q = word(((base + 16u + 32u * c) >> 2u) + g % 8u);
    let nib = ints_f32(select(lo4u(q), hi4u(q), high), 0.0);
    return dm.x * sm.x * nib - dm.y * sm.y;
}
