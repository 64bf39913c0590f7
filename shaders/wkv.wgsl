// The WKV recurrences over T tokens (T = 1 when decoding), per head of S channels; every (T, H S) vector
// holds token t's values at t H S, and the recurrences run in token order inside each thread.
// `wkv6` (RWKV-6, Eagle and Finch, eqs. 19-20), one thread per (head, value column j):
//   o_j = sum_i r_i (u_i k_i v_j + S_ij);  S_ij = w_i S_ij + k_i v_j.
// `wkv7` (RWKV-7 Goose, section 4, the generalised delta rule), one thread per (head, ROWS value rows i):
//   sa_i = sum_j -kk_j S_ij;  S_ij = S_ij w_j + v_i k_j + sa_i kk_j a_j;  o_i = sum_j S_ij r_j.
//   `ROWS`, `Rows` (f32 for one row, vec4<f32> for four), `WKV7_WG` and the row accessors are prepended
//   (lib/wkv7_rows1.wgsl, lib/wkv7_rows4.wgsl; archrace_gpu::shaders::wkv7_shape).
// `rwkv7_prep`: kk = normalize(k * k_k) per head, and kk a after all T tokens' kk (the one product wkv7
//   needs of a, so wkv7 binds no `a`); k = k + a k k_a - k k_a. One workgroup per (head, token).
// `rwkv7_bonus`: bonus_i = v_i sum_j r_j k_j r_k_j, per head. One workgroup per (head, token).
// CPU twins: archrace_cpu::model::rwkv::{time_mix_v6, time_mix_v7} (their per-token loops). Reductions:
// lib/reduce.wgsl.

const WG: u32 = 64u;

struct Params {
    n_head: u32,
    head_size: u32,
    n_tokens: u32, // T (0 is taken as 1)
    vec_off: u32,  // v7 prep and bonus: where their vector starts in the k_a binding
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> r: array<f32>;          // (T, H S)
@group(0) @binding(2) var<storage, read> w: array<f32>;          // (T, H S) decay
@group(0) @binding(3) var<storage, read_write> k: array<f32>;    // (T, H S)
@group(0) @binding(4) var<storage, read> v: array<f32>;          // (T, H S)
@group(0) @binding(5) var<storage, read_write> state: array<f32>; // (H, S, S)
@group(0) @binding(6) var<storage, read_write> o: array<f32>;    // (T, H S)
@group(0) @binding(7) var<storage, read> u: array<f32>;          // (H S) v6 bonus; v7 prep: a (T, H S)
@group(0) @binding(8) var<storage, read_write> kk: array<f32>;   // (2, T, H S) v7: [kk, kk a]
@group(0) @binding(9) var<storage, read> k_k: array<f32>;        // (H S) v7 prep
@group(0) @binding(10) var<storage, read> k_a: array<f32>;       // (H S) from vec_off: v7 prep; v7 bonus: r_k

@compute @workgroup_size(64)
fn wkv6(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = p.head_size;
    if gid.x >= p.n_head * s {
        return;
    }
    let head = gid.x / s;
    let j = gid.x % s;
    let st = head * s * s;
    for (var t = 0u; t < max(p.n_tokens, 1u); t++) {
        let base = t * p.n_head * s + head * s;
        let vj = v[base + j];
        var acc = 0.0;
        for (var i = 0u; i < s; i++) {
            let kv = k[base + i] * vj;
            let at = st + i * s + j;
            acc += r[base + i] * (u[head * s + i] * kv + state[at]);
            state[at] = state[at] * w[base + i] + kv;
        }
        o[base + j] = acc;
    }
}

@compute @workgroup_size(WKV7_WG)
fn wkv7(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = p.head_size;
    let per_head = (s + ROWS - 1u) / ROWS; // threads a head
    if gid.x >= p.n_head * per_head {
        return;
    }
    let head = gid.x / per_head;
    let i = gid.x % per_head * ROWS; // the thread's first row
    let n = min(ROWS, s - i);        // and how many it runs
    let row = head * s * s + i * s;
    let t_max = max(p.n_tokens, 1u);
    let kka = t_max * p.n_head * s; // kk a follows kk
    if s <= REG_HEAD {
        wkv7_in_registers(head, i, n, row, t_max, kka);
        return;
    }
    for (var t = 0u; t < t_max; t++) {
        let base = t * p.n_head * s + head * s;
        var sa = Rows(0.0);
        for (var j = 0u; j < s; j++) {
            sa -= kk[base + j] * state_rows(row + j, s, n);
        }
        let vi = v_rows(base + i, n);
        var acc = Rows(0.0);
        for (var j = 0u; j < s; j++) {
            let updated = state_rows(row + j, s, n) * w[base + j] + vi * k[base + j] + sa * kk[kka + base + j];
            set_state_rows(row + j, s, n, updated);
            acc += updated * r[base + j];
        }
        set_o_rows(base + i, n, acc);
    }
}

// Head sizes `wkv7` keeps a thread's state rows in registers for (RWKV-7's is 64).
const REG_HEAD: u32 = 64u;

// `wkv7`'s loop over the tokens, in its arithmetic and order, with the thread's state rows in registers for
// all of them (read and written once, not twice and once per token) and the parameters read once: the loops
// over a row have a constant bound, so they unroll and the rows stay out of memory.
fn wkv7_in_registers(head: u32, i: u32, n: u32, row: u32, t_max: u32, kka: u32) {
    let s = p.head_size;
    let stride = p.n_head * s;
    var st: array<Rows, REG_HEAD>; // st[j]: column j of the thread's rows
    for (var j = 0u; j < REG_HEAD; j++) {
        if j < s {
            st[j] = state_rows(row + j, s, n);
        }
    }
    for (var t = 0u; t < t_max; t++) {
        let base = t * stride + head * s;
        var sa = Rows(0.0);
        for (var j = 0u; j < REG_HEAD; j++) {
            if j < s {
                sa -= kk[base + j] * st[j];
            }
        }
        let vi = v_rows(base + i, n);
        var acc = Rows(0.0);
        for (var j = 0u; j < REG_HEAD; j++) {
            if j < s {
                let updated = st[j] * w[base + j] + vi * k[base + j] + sa * kk[kka + base + j];
                st[j] = updated;
                acc += updated * r[base + j];
            }
        }
        set_o_rows(base + i, n, acc);
    }
    for (var j = 0u; j < REG_HEAD; j++) {
        if j < s {
            set_state_rows(row + j, s, n, st[j]);
        }
    }
}

@compute @workgroup_size(WG)
fn rwkv7_prep(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let hs = wg.x * s; // the head's channels
    let base = wg.y * p.n_head * s + hs; // of token wg.y
    let kka = max(p.n_tokens, 1u) * p.n_head * s; // kk a follows kk
    var sq = 0.0;
    for (var j = tid; j < s; j += WG) {
        let v = k[base + j] * k_k[hs + j];
        sq += v * v;
    }
    let norm = max(sqrt(workgroup_sum(tid, sq)), 1e-12);
    for (var j = tid; j < s; j += WG) {
        let kj = k[base + j];
        let kkj = kj * k_k[hs + j] / norm;
        kk[base + j] = kkj;
        kk[kka + base + j] = kkj * u[base + j];
        let ka = kj * k_a[p.vec_off + hs + j];
        k[base + j] = kj + u[base + j] * ka - ka;
    }
}

@compute @workgroup_size(WG)
fn rwkv7_bonus(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let hs = wg.x * s; // the head's channels
    let base = wg.y * p.n_head * s + hs; // of token wg.y
    var part = 0.0;
    for (var j = tid; j < s; j += WG) {
        part += r[base + j] * k[base + j] * k_a[p.vec_off + hs + j];
    }
    let rk = workgroup_sum(tid, part);
    for (var i = tid; i < s; i += WG) {
        o[base + i] = v[base + i] * rk;
    }
}
