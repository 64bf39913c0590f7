// `wkv7` (wkv.wgsl) and `wkv7_step` (wkv7_step.wgsl) with one state row a thread, 64 threads a workgroup:
// a GPU's shape (archrace_gpu::shaders::wkv7_shape). `n`, the rows a thread runs, is always 1 here.

const ROWS: u32 = 1u;
const WKV7_WG: u32 = 64u;
alias Rows = f32;

// Value j of the thread's row, `at` = its row's start + j.
fn state_rows(at: u32, stride: u32, n: u32) -> Rows {
    return state[at];
}

fn set_state_rows(at: u32, stride: u32, n: u32, x: Rows) {
    state[at] = x;
}

// The token's v of the thread's row, `at` = the token's head start + the row.
fn v_rows(at: u32, n: u32) -> Rows {
    return v[at];
}

fn set_o_rows(at: u32, n: u32, x: Rows) {
    o[at] = x;
}

// The sum of the thread's rows' values (wkv7_step's group norm).
fn rows_total(x: Rows) -> f32 {
    return x;
}
