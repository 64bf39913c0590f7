// Everything of an RWKV-7 decode step ("RWKV-7 Goose", section 4) between the products and the output
// projection, one workgroup per head of S channels, in one dispatch:
//   value residual: v = v + (v_first - v) vmix (layers after the first; the first keeps v as v_first);
//   key preparation: kk = normalize(k k_k), k = k + a k k_a - k k_a (rwkv7_prep);
//   the generalised delta rule, one thread per state row i (wkv7):
//     sa_i = sum_j -kk_j S_ij;  S_ij = S_ij w_j + v_i k_j + sa_i kk_j a_j;  o_i = sum_j S_ij r_j;
//   the bonus v_i sum_j r_j k_j r_k_j (rwkv7_bonus);
//   the group norm of o over the head, scaled and biased, plus the bonus, times the gate g (group_norm).
// Inputs come packed as the fused products write them (`rkv`: r, k, v; `up`: decay, a, g, vmix) and the
// layer's vectors as one buffer, so the kernel binds 7 buffers (WebGPU guarantees 8 per stage).
// CPU twin: archrace_cpu::model::rwkv::wkv7_step. Reductions: lib/reduce.wgsl.

const WG: u32 = 64u;
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
var<workgroup> sh_v: array<f32, MAX_S>;
var<workgroup> sh_kk: array<f32, MAX_S>;
var<workgroup> sh_kka: array<f32, MAX_S>;
var<workgroup> sh_o: array<f32, MAX_S>;

@compute @workgroup_size(WG)
fn wkv7_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let e = p.n_head * s;
    let hs = wg.x * s; // the head's channels
    // Value residual, and k k_k with its squared norm.
    var sq = 0.0;
    for (var j = tid; j < s; j += WG) {
        let c = hs + j;
        var v = rkv[2u * e + c];
        if p.first == 1u {
            v_first[c] = v;
        } else {
            v += (v_first[c] - v) * up[3u * e + c];
        }
        let kk = rkv[e + c] * consts[c];
        sh_r[j] = rkv[c];
        sh_w[j] = up[c];
        sh_k[j] = rkv[e + c];
        sh_v[j] = v;
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
    // The state rows.
    var part = 0.0;
    for (var i = tid; i < s; i += WG) {
        let row = wg.x * s * s + i * s;
        var sa = 0.0;
        for (var j = 0u; j < s; j++) {
            sa -= sh_kk[j] * state[row + j];
        }
        let vi = sh_v[i];
        var acc = 0.0;
        for (var j = 0u; j < s; j++) {
            let updated = state[row + j] * sh_w[j] + vi * sh_k[j] + sa * sh_kka[j];
            state[row + j] = updated;
            acc += updated * sh_r[j];
        }
        sh_o[i] = acc;
        part += acc;
    }
    // Group norm of o, plus the bonus, times the gate.
    let mean = workgroup_sum(tid, part) / f32(s);
    var dev = 0.0;
    for (var i = tid; i < s; i += WG) {
        let d = sh_o[i] - mean;
        dev += d * d;
    }
    let scale = 1.0 / sqrt(workgroup_sum(tid, dev) / f32(s) + p.eps);
    for (var i = tid; i < s; i += WG) {
        let c = hs + i;
        let normed = (sh_o[i] - mean) * scale * consts[3u * e + c] + consts[4u * e + c];
        y[c] = (normed + sh_v[i] * bonus) * up[2u * e + c];
    }
}
