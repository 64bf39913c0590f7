// Q5_K super-blocks (ggml block_q5_K, 176 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins,
// 32 bytes qh (bit 2c / 2c + 1 of byte l: fifth bit of weight l of chunk c's low / high half), 128 bytes of
// low nibbles; weight = d * sc * q - dmin * m.
// Kept as in the GGUF file (crates/gpu/src/layout.rs): 176-byte blocks keep every 16 bytes aligned, so a
// thread reads its super-block in 16-byte loads, as in Q4_K.
const BLOCK: u32 = 256u;
const BLOCK_BYTES: u32 = 176u;

// Chunk c of the super-block at byte `base`, whose first 16 bytes are `head` and whose fifth bits are
// qh0 then qh1, against x[xv * 4 ..][..64].
fn chunk_dot(base: u32, head: vec4<u32>, qh0: vec4<u32>, qh1: vec4<u32>, c: u32, xv: u32) -> f32 {
    let sm = scale_min_k4_pair(head, c);
    let at = base >> 2u; // the chunk's 32 bytes of nibbles at byte 48 + 32c
    var s1 = 0.0;
    var s2 = 0.0;
    var x1 = 0.0;
    var x2 = 0.0;
    for (var k = 0u; k < 2u; k++) {
        let q4 = quad(at + 12u + 8u * c + 4u * k);
        let qh4 = select(qh0, qh1, k == 1u);
        for (var m = 0u; m < 4u; m++) {
            let qh = u8x4(qh4[m]);
            let h1 = vec4<f32>((qh >> vec4<u32>(2u * c)) & vec4<u32>(1u)) * 16.0;
            let h2 = vec4<f32>((qh >> vec4<u32>(2u * c + 1u)) & vec4<u32>(1u)) * 16.0;
            let xl = xin(xv + 4u * k + m);
            let xh = xin(xv + 8u + 4u * k + m);
            s1 += dot(lo4(q4[m]) + h1, xl);
            s2 += dot(hi4(q4[m]) + h2, xh);
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
    let qh0 = quad((base >> 2u) + 4u);
    let qh1 = quad((base >> 2u) + 8u);
    var total = 0.0;
    for (var c = 0u; c < 4u; c++) {
        total += chunk_dot(base, head, qh0, qh1, c, xv + 16u * c);
    }
    return total;
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
    let h = vec4<f32>((qh >> vec4<u32>(2u * c + hi)) & vec4<u32>(1u)) * 16.0;
    let nib = select(lo4(q), hi4(q), hi == 1u);
    return dm.x * sm.x * (nib + h) - dm.y * sm.y;
}
