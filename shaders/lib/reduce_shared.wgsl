// What both twins of the workgroup reductions share (lib/reduce.wgsl, in workgroup memory, and
// lib/reduce_subgroup.wgsl, with subgroup shuffles): the workgroup arrays some kernels also use directly,
// the non-finite marker and test, and the argmax candidates with their order.

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_v4: array<vec4<f32>, WG>;

// What the sampling kernels write instead of a token when a logit is a NaN or an infinity (the host
// turns it into a typed error).
const NON_FINITE: u32 = 0xfffffffeu;

// Whether `v` is a NaN or an infinity, tested on its bits (exponent all ones): a shader compiler may
// assume floats are finite and fold `v != v` away.
fn non_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// A value and its index; index NONE is no candidate.
struct Best {
    v: f32,
    i: u32,
}

const NONE: u32 = 0xffffffffu;

// The better of two candidates: the larger value, ties to the lower index; NONE loses to any candidate.
// A total order, so any order of comparisons finds the same best.
fn better(a: Best, b: Best) -> Best {
    if b.i != NONE && (a.i == NONE || b.v > a.v || (b.v == a.v && b.i < a.i)) {
        return b;
    }
    return a;
}
