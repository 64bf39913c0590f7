// `wkv7` (wkv.wgsl) and `wkv7_step` (wkv7_step.wgsl) with four state rows a thread, one a component of a
// vec4, in workgroups of 8: a software adapter's shape (archrace_gpu::shaders::wkv7_shape). Its CPU
// threads read memory lane by lane, uniform addresses too, so a thread's reads of a token's w, k, kk, kk a
// and r now serve four rows instead of one.
// A thread runs `n` rows (1 to 4: the last thread of a head narrower than a multiple of 4 runs fewer); the
// rest of its components hold zeros and are neither read nor written. No loops: llvmpipe counts back-edges.

const ROWS: u32 = 4u;
const WKV7_WG: u32 = 8u;
alias Rows = vec4<f32>;

// Value j of the thread's rows, `at` = its first row's start + j; rows are `stride` apart.
fn state_rows(at: u32, stride: u32, n: u32) -> Rows {
    var x = vec4<f32>(state[at], 0.0, 0.0, 0.0);
    if n > 1u {
        x.y = state[at + stride];
    }
    if n > 2u {
        x.z = state[at + 2u * stride];
    }
    if n > 3u {
        x.w = state[at + 3u * stride];
    }
    return x;
}

fn set_state_rows(at: u32, stride: u32, n: u32, x: Rows) {
    state[at] = x.x;
    if n > 1u {
        state[at + stride] = x.y;
    }
    if n > 2u {
        state[at + 2u * stride] = x.z;
    }
    if n > 3u {
        state[at + 3u * stride] = x.w;
    }
}

// The token's v of the thread's rows, `at` = the token's head start + the first row.
fn v_rows(at: u32, n: u32) -> Rows {
    var x = vec4<f32>(v[at], 0.0, 0.0, 0.0);
    if n > 1u {
        x.y = v[at + 1u];
    }
    if n > 2u {
        x.z = v[at + 2u];
    }
    if n > 3u {
        x.w = v[at + 3u];
    }
    return x;
}

fn set_o_rows(at: u32, n: u32, x: Rows) {
    o[at] = x.x;
    if n > 1u {
        o[at + 1u] = x.y;
    }
    if n > 2u {
        o[at + 2u] = x.z;
    }
    if n > 3u {
        o[at + 3u] = x.w;
    }
}

// The sum of the thread's rows' values (wkv7_step's group norm); rows past `n` hold zeros.
fn rows_total(x: Rows) -> f32 {
    return x.x + x.y + x.z + x.w;
}
