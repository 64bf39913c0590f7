// Everything of an RWKV-7 decode step ("RWKV-7 Goose", section 4) between the products and the output
// projection, one workgroup per head of S channels, in one dispatch:
//   value residual: v = v + (v_first - v) vmix (layers after the first; the first keeps v as v_first);
//   key preparation: kk = normalize(k k_k), k = k + a k k_a - k k_a (rwkv7_prep);
//   the generalised delta rule, one thread per ROWS state rows i (wkv7):
//     sa_i = sum_j -kk_j S_ij;  S_ij = S_ij w_j + v_i k_j + sa_i kk_j a_j;  o_i = sum_j S_ij r_j;
//   the bonus v_i sum_j r_j k_j r_k_j (rwkv7_bonus);
//   the group norm of o over the head, scaled and biased, plus the bonus, times the gate g (group_norm).
// Inputs come packed as the fused products write them (`rkv`: r, k, v; `up`: decay, a, g, vmix) and the
// layer's vectors as one buffer, so the kernel binds 7 buffers (WebGPU guarantees 8 per stage).
// It takes `wkv7`'s shape (archrace_gpu::shaders::wkv7_shape): `ROWS` state rows a thread (`Rows`, f32 or
// vec4<f32>) and `WKV7_WG` threads a workgroup, prepended with the row accessors (lib/wkv7_rows1.wgsl,
// lib/wkv7_rows4.wgsl), which read `state` and the token's `v` and write `o`: here the workgroup's copies.
// CPU twin: archrace_cpu::model::rwkv::wkv7_step. Reductions: lib/reduce.wgsl.

const WG: u32 = WKV7_WG;
const MAX_S: u32 = 256u; // head sizes up to this (RWKV-7 uses 64)

struct Params {
    n_head: u32,
    head_size: u32,
    first: u32, // 1: the first RWKV-7 layer (v_first = v); 0: value residual from v_first
    eps: f32,   // the group norm's
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> rkv: array<f32>;          // (3, H S): r, k, v
@group(0) @binding(2) var<storage, read> up: array<f32>;           // (4, H S): decay w, a, g, vmix
@group(0) @binding(3) var<storage, read> consts: array<f32>;       // (5, H S): k_k, k_a, r_k, ln w, ln b
@group(0) @binding(4) var<storage, read_write> state: array<f32>;  // (H, S, S), [value i][key j]
@group(0) @binding(5) var<storage, read_write> v_first: array<f32>; // (H S)
@group(0) @binding(6) var<storage, read_write> y: array<f32>;      // (H S)

var<workgroup> sh_r: array<f32, MAX_S>;
var<workgroup> sh_w: array<f32, MAX_S>;
var<workgroup> sh_k: array<f32, MAX_S>;
var<workgroup> v: array<f32, MAX_S>; // the value after the residual
var<workgroup> sh_kk: array<f32, MAX_S>;
var<workgroup> sh_kka: array<f32, MAX_S>;
var<workgroup> o: array<f32, MAX_S>; // the delta rule's output

@compute @workgroup_size(WG)
fn wkv7_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let e = p.n_head * s;
    let hs = wg.x * s; // the head's channels
    // Value residual, and k k_k with its squared norm.
    var sq = 0.0;
    for (var j = tid; j < s; j += WG) {
        let c = hs + j;
        var vc = rkv[2u * e + c];
        if p.first == 1u {
            v_first[c] = vc;
        } else {
            vc += (v_first[c] - vc) * up[3u * e + c];
        }
        let kk = rkv[e + c] * consts[c];
        sh_r[j] = rkv[c];
        sh_w[j] = up[c];
        sh_k[j] = rkv[e + c];
        v[j] = vc;
        sh_kk[j] = kk;
        sq += kk * kk;
    }
    let norm = max(sqrt(workgroup_sum(tid, sq)), 1e-12);
    // kk normalised, kk a, the replaced key, and the bonus's r k r_k.
    var rk = 0.0;
    for (var j = tid; j < s; j += WG) {
        let c = hs + j;
        let a = up[e + c];
        let kk = sh_kk[j] / norm;
        sh_kk[j] = kk;
        sh_kka[j] = kk * a;
        let ka = sh_k[j] * consts[e + c];
        let k = sh_k[j] + a * ka - ka;
        sh_k[j] = k;
        rk += sh_r[j] * k * consts[2u * e + c];
    }
    let bonus = workgroup_sum(tid, rk); // its barriers also publish the shared vectors
    // The state rows, ROWS a thread.
    var part = 0.0;
    for (var i = tid * ROWS; i < s; i += WG * ROWS) {
        let n = min(ROWS, s - i); // the rows this thread runs
        let row = wg.x * s * s + i * s;
        var sa = Rows(0.0);
        for (var j = 0u; j < s; j++) {
            sa -= sh_kk[j] * state_rows(row + j, s, n);
        }
        let vi = v_rows(i, n);
        var acc = Rows(0.0);
        for (var j = 0u; j < s; j++) {
            let updated = state_rows(row + j, s, n) * sh_w[j] + vi * sh_k[j] + sa * sh_kka[j];
            set_state_rows(row + j, s, n, updated);
            acc += updated * sh_r[j];
        }
        set_o_rows(i, n, acc);
        part += rows_total(acc); // rows past n hold zeros
    }
    // Group norm of o, plus the bonus, times the gate.
    let mean = workgroup_sum(tid, part) / f32(s); // its barriers also publish o
    var dev = 0.0;
    for (var i = tid; i < s; i += WG) {
        let d = o[i] - mean;
        dev += d * d;
    }
    let scale = 1.0 / sqrt(workgroup_sum(tid, dev) / f32(s) + p.eps);
    for (var i = tid; i < s; i += WG) {
        let c = hs + i;
        let normed = (o[i] - mean) * scale * consts[3u * e + c] + consts[4u * e + c];
        y[c] = (normed + v[i] * bonus) * up[2u * e + c];
    }
}
