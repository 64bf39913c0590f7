// The WKV recurrences of one token, per head of S channels.
// `wkv6` (RWKV-6, Eagle and Finch, eqs. 19-20), one thread per (head, value column j):
//   o_j = sum_i r_i (u_i k_i v_j + S_ij);  S_ij = w_i S_ij + k_i v_j.
// `wkv7` (RWKV-7 Goose, section 4, the generalised delta rule), one thread per (head, value row i):
//   sa_i = sum_j -kk_j S_ij;  S_ij = S_ij w_j + v_i k_j + sa_i kk_j a_j;  o_i = sum_j S_ij r_j.
// `rwkv7_prep`: kk = normalize(k * k_k) per head, and kk a after it (the one product wkv7 needs of a, so
//   wkv7 binds no `a`); k = k + a k k_a - k k_a. One workgroup per head.
// `rwkv7_bonus`: bonus_i = v_i sum_j r_j k_j r_k_j, per head. One workgroup per head.
// CPU twins: archrace_cpu::model::rwkv::{time_mix_v6, time_mix_v7} (their per-token loops). Reductions:
// lib/reduce.wgsl.

const WG: u32 = 64u;

struct Params {
    n_head: u32,
    head_size: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> r: array<f32>;          // (H S)
@group(0) @binding(2) var<storage, read> w: array<f32>;          // (H S) decay
@group(0) @binding(3) var<storage, read_write> k: array<f32>;    // (H S)
@group(0) @binding(4) var<storage, read> v: array<f32>;          // (H S)
@group(0) @binding(5) var<storage, read_write> state: array<f32>; // (H, S, S)
@group(0) @binding(6) var<storage, read_write> o: array<f32>;    // (H S)
@group(0) @binding(7) var<storage, read> u: array<f32>;          // (H S) v6 bonus; v7 prep: a
@group(0) @binding(8) var<storage, read_write> kk: array<f32>;   // (2, H S) v7: [kk, kk a]
@group(0) @binding(9) var<storage, read> k_k: array<f32>;        // (H S) v7 prep
@group(0) @binding(10) var<storage, read> k_a: array<f32>;       // (H S) v7 prep; v7 bonus: r_k

@compute @workgroup_size(64)
fn wkv6(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = p.head_size;
    if gid.x >= p.n_head * s {
        return;
    }
    let head = gid.x / s;
    let j = gid.x % s;
    let base = head * s;
    let st = head * s * s;
    let vj = v[base + j];
    var acc = 0.0;
    for (var i = 0u; i < s; i++) {
        let kv = k[base + i] * vj;
        let at = st + i * s + j;
        acc += r[base + i] * (u[base + i] * kv + state[at]);
        state[at] = state[at] * w[base + i] + kv;
    }
    o[base + j] = acc;
}

@compute @workgroup_size(64)
fn wkv7(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = p.head_size;
    if gid.x >= p.n_head * s {
        return;
    }
    let head = gid.x / s;
    let i = gid.x % s;
    let base = head * s;
    let row = head * s * s + i * s;
    let kka = p.n_head * s; // kk a follows kk
    var sa = 0.0;
    for (var j = 0u; j < s; j++) {
        sa -= kk[base + j] * state[row + j];
    }
    let vi = v[base + i];
    var acc = 0.0;
    for (var j = 0u; j < s; j++) {
        let updated = state[row + j] * w[base + j] + vi * k[base + j] + sa * kk[kka + base + j];
        state[row + j] = updated;
        acc += updated * r[base + j];
    }
    o[base + i] = acc;
}

@compute @workgroup_size(WG)
fn rwkv7_prep(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let base = wg.x * s;
    let kka = p.n_head * s; // kk a follows kk
    var sq = 0.0;
    for (var j = tid; j < s; j += WG) {
        let v = k[base + j] * k_k[base + j];
        sq += v * v;
    }
    let norm = max(sqrt(workgroup_sum(tid, sq)), 1e-12);
    for (var j = tid; j < s; j += WG) {
        let kj = k[base + j];
        let kkj = kj * k_k[base + j] / norm;
        kk[base + j] = kkj;
        kk[kka + base + j] = kkj * u[base + j];
        let ka = kj * k_a[base + j];
        k[base + j] = kj + u[base + j] * ka - ka;
    }
}

@compute @workgroup_size(WG)
fn rwkv7_bonus(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let base = wg.x * s;
    var part = 0.0;
    for (var j = tid; j < s; j += WG) {
        part += r[base + j] * k[base + j] * k_a[base + j];
    }
    let rk = workgroup_sum(tid, part);
    for (var i = tid; i < s; i += WG) {
        o[base + i] = v[base + i] * rk;
    }
}
