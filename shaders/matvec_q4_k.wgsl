// Q4_K super-blocks (ggml block_q4_K, 144 bytes): f16 d, f16 dmin, 12 bytes of packed 6-bit scales and
// mins for 8 sub-blocks of 32, then 128 bytes of nibbles. Chunk c (0..4) holds sub-blocks 2c (low
// nibbles) and 2c + 1 (high nibbles); weight = d * sc * q - dmin * m.
// Kept as in the GGUF file (crates/gpu/src/layout.rs): 144-byte blocks keep every 16 bytes aligned, so a
// thread reads its super-block in 16-byte loads: d, dmin and the scales in one, each chunk in two.
const BLOCK: u32 = 256u;
const BLOCK_BYTES: u32 = 144u;

// Chunk c of the super-block at byte `base`, whose first 16 bytes are `head`, against x[xv * 4 ..][..64].
fn chunk_dot(base: u32, head: vec4<u32>, c: u32, xv: u32) -> f32 {
    let sm = scale_min_k4_pair(head, c);
    let at = (base + 16u + 32u * c) >> 2u; // the chunk's 32 bytes
    var s1 = 0.0;
    var s2 = 0.0;
    var x1 = 0.0;
    var x2 = 0.0;
    for (var k = 0u; k < 2u; k++) {
        let q4 = quad(at + 4u * k);
        for (var m = 0u; m < 4u; m++) {
            let xl = xin(xv + 4u * k + m);
            let xh = xin(xv + 8u + 4u * k + m);
            s1 += dot(lo4(q4[m]), xl);
            s2 += dot(hi4(q4[m]), xh);
            x1 += dot(xl, vec4<f32>(1.0));
            x2 += dot(xh, vec4<f32>(1.0));
        }
    }
    let dm = unpack2x16float(head.x); // (d, dmin)
    return dm.x * (sm.x * s1 + sm.z * s2) - dm.y * (sm.y * x1 + sm.w * x2);
}

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let base = row + b * BLOCK_BYTES;
    let head = quad(base >> 2u);
    var total = 0.0;
    for (var c = 0u; c < 4u; c++) {
        total += chunk_dot(base, head, c, xv + 16u * c);
    }
    return total;
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
    let nib = select(lo4(q), hi4(q), high);
    return dm.x * sm.x * nib - dm.y * sm.y;
}
