//! The element-wise steps of the RWKV blocks: the CPU twin of `pointwise` (`shaders/pointwise.wgsl`),
//! with the same op numbers. The CPU forward writes these inline; this twin spells each out once.

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `out[i] = op(a[i], b[i], c[i], out[i])` for every i of `out`; see the WGSL file for the table.
///
/// # Panics
/// On an op number outside 0..=12.
pub fn pointwise(op: u32, a: &[f32], b: &[f32], c: &[f32], out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate() {
        let x = a[i];
        *o = match op {
            0 => x.tanh(),
            1 => sigmoid(x + b[i]),
            2 => (-0.606531 * sigmoid(x + b[i])).exp(),
            3 => (-(x + b[i]).exp()).exp(),
            4 => x + b[i],
            5 => x.max(0.0).powi(2),
            6 => *o + (b[i] - *o) * sigmoid(x + c[i]),
            7 => *o + x * sigmoid(b[i]),
            8 => x / (1.0 + (-x).exp()),
            9 => sigmoid(x),
            10 => *o + x * b[i],
            11 => x,
            12 => 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044715 * x * x * x)).tanh()),
            _ => panic!("pointwise op {op} does not exist"),
        };
    }
}
