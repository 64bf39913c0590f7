//! Every kernel's parameter block as a `#[repr(C)]` struct: the dispatch fills it by name, and its layout
//! (field names, types and byte offsets) is the WGSL `struct Params` of the kernel's file, which
//! `tests/tests/shaders.rs` checks by reflecting the WGSL with naga. Parameters are read from a storage
//! binding (see `runtime::recorder`), so they follow WGSL's storage layout: 4-byte scalars, packed.

use crate::Kernel;
use bytemuck::Pod;

/// A kernel's parameter block.
pub trait KernelParams: Pod {
    /// The struct's name (what [`Kernel::params`] names for each kernel).
    const NAME: &'static str;
    /// `(field, type, byte offset)` in declaration order; `_`-prefixed fields are host-side padding.
    const FIELDS: &'static [(&'static str, &'static str, usize)];
}

/// Declares a parameter struct (all fields `pub`) with its [`KernelParams`] layout.
macro_rules! kernel_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl KernelParams for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [(&'static str, &'static str, usize)] =
                &[$((stringify!($field), stringify!($ty), std::mem::offset_of!($name, $field)),)*];
        }
    };
}
pub(crate) use kernel_params;

kernel_params! {
    /// `norm` (`shaders/norm.wgsl`): `rows` rows of up to three fields (`n`, `n1`, `n2` values).
    pub struct NormParams {
        /// The (first) field's length.
        n: u32,
        /// Rows.
        rows: u32,
        /// First input value.
        in_off: u32,
        /// First output value.
        out_off: u32,
        /// 0: RMSNorm; 1: LayerNorm.
        kind: u32,
        /// Epsilon.
        eps: f32,
        /// Values from one input row to the next.
        in_stride: u32,
        /// Values from one output row to the next.
        out_stride: u32,
        /// The second field's length (0: none).
        n1: u32,
        /// The third's.
        n2: u32,
        /// Where the weights (and bias) start in their buffers.
        w_off: u32,
    }
}

kernel_params! {
    /// `rope_kv` (`shaders/rope_kv.wgsl`).
    pub struct RopeKvParams {
        /// Query heads `H`.
        n_head: u32,
        /// Key/value heads `H_kv`.
        n_head_kv: u32,
        /// `D`, even.
        head_dim: u32,
        /// Dims rotated per head (0: no RoPE).
        n_rot: u32,
        /// This layer's first table pair.
        table_off: u32,
        /// Pairs from one token's table to the next.
        table_stride: u32,
        /// First cache value written: `pos0 H_kv D`.
        dst_off: u32,
        /// 1: f16 cache; 0: f32.
        f16: u32,
        /// Tokens `T`.
        n_tokens: u32,
        /// Values per token in the q/k/v source.
        src_stride: u32,
    }
}

kernel_params! {
    /// `attn_partial`, `attn_combine` and `attn_prefill` (`shaders/attention.wgsl`).
    pub struct AttnParams {
        /// Query heads.
        n_head: u32,
        /// Key/value heads.
        n_head_kv: u32,
        /// `D`.
        head_dim: u32,
        /// Keys in the cache (decode).
        n_keys: u32,
        /// Chunks of keys (decode).
        n_chunks: u32,
        /// `1 / sqrt(D)`.
        scale: f32,
        /// Prefill: the chunk's first position.
        pos0: u32,
        /// Prefill: tokens in the chunk.
        n_tokens: u32,
        /// 1: f16 cache; 0: f32.
        kv_f16: u32,
        /// Decode: keys per chunk ([`crate::runtime::attn_chunk`]).
        chunk_len: u32,
        /// Prefill: the first key this pass reads ([`crate::runtime::prefill::attn_prefill_passes`]).
        keys_from: u32,
        /// Prefill: the key this pass stops before (it reads no key past a query's own).
        keys_to: u32,
        /// Prefill: 1 when a pass before this one left each query's softmax state (`partial`: m and l;
        /// `out`: the unnormalised sum of weighted values); 0 for the first.
        resume: u32,
        /// Prefill: 1 when this pass is the last, and writes `out` = acc / l; 0 leaves the state for the next.
        finish: u32,
    }
}

kernel_params! {
    /// `mamba_conv`, `mamba_scan` and `mamba_scan_dt` (`shaders/mamba.wgsl`).
    pub struct MambaParams {
        /// `Di`.
        d_inner: u32,
        /// `K`.
        d_conv: u32,
        /// `N`.
        d_state: u32,
        /// B's offset in a dt/B/C row.
        b_off: u32,
        /// C's offset.
        c_off: u32,
        /// Tokens `T`.
        n_tokens: u32,
        /// Values from one token's dt/B/C row to the next.
        dbc_stride: u32,
        /// `R`, the dt projection's input width (`mamba_scan_dt`).
        dt_rank: u32,
        /// `mamba_scan_dt`: where Jamba's dt, B and C norm weights start in the consts (0: no norms).
        norm_at: u32,
        /// Their epsilon.
        eps: f32,
    }
}

kernel_params! {
    /// `moe_route`, `moe_lists` and `moe_norm_route` (`shaders/moe_route.wgsl`).
    pub struct MoeParams {
        /// Experts.
        n_experts: u32,
        /// Experts per token.
        top_k: u32,
        /// `moe_lists`: tokens `T`.
        n_tokens: u32,
        /// `moe_norm_route`: the row width `E`.
        n_embd: u32,
        /// `moe_norm_route`: 0 RMSNorm, 1 LayerNorm.
        kind: u32,
        /// `moe_norm_route`: the norm's epsilon.
        eps: f32,
    }
}

kernel_params! {
    /// `swiglu` (`shaders/swiglu.wgsl`).
    pub struct SwigluParams {
        /// Values.
        n: u32,
        /// Values per row of the dispatch (64 x its workgroups along x).
        row: u32,
    }
}

kernel_params! {
    /// `argmax` (`shaders/sample.wgsl`).
    pub struct ArgmaxParams {
        /// Logits.
        n: u32,
        /// Which token slot receives the id.
        out_index: u32,
    }
}

kernel_params! {
    /// `sample_top_k` (`shaders/sample_top_k.wgsl`).
    pub struct SampleParams {
        /// Logits.
        n: u32,
        /// Which token slot receives the id.
        out_index: u32,
        /// `1..=MAX_GPU_TOP_K`.
        top_k: u32,
        /// Distinct recent tokens penalised.
        n_recent: u32,
        /// Temperature.
        temperature: f32,
        /// Top-p.
        top_p: f32,
        /// Min-p.
        min_p: f32,
        /// Repetition penalty.
        repeat_penalty: f32,
        /// The uniform draw.
        u: f32,
    }
}

kernel_params! {
    /// `pointwise` (`shaders/pointwise.wgsl`).
    pub struct PointwiseParams {
        /// Values.
        n: u32,
        /// The operation.
        op: u32,
        /// Offsets of a, b, c and out.
        a_off: u32,
        /// b.
        b_off: u32,
        /// c.
        c_off: u32,
        /// out.
        out_off: u32,
        /// b repeats every this many values (0: never).
        b_period: u32,
        /// c repeats every this many values (0: never).
        c_period: u32,
        /// Values per row of the dispatch.
        row: u32,
    }
}

kernel_params! {
    /// `token_shift` (`shaders/token_shift.wgsl`).
    pub struct TokenShiftParams {
        /// `E`.
        e: u32,
        /// Lerps.
        n_mix: u32,
        /// Tokens `T`.
        n_tokens: u32,
        /// `norm_shift`: 0 RMSNorm, 1 LayerNorm.
        kind: u32,
        /// `norm_shift`: the norm's epsilon.
        eps: f32,
    }
}

kernel_params! {
    /// `wkv7_step` (`shaders/wkv7_step.wgsl`).
    pub struct Wkv7StepParams {
        /// `H`.
        n_head: u32,
        /// `S`.
        head_size: u32,
        /// 1 on the first RWKV-7 layer (it keeps its values as `v_first`).
        first: u32,
        /// The group norm's epsilon.
        eps: f32,
    }
}

kernel_params! {
    /// `group_norm` (`shaders/group_norm.wgsl`).
    pub struct GroupNormParams {
        /// `S`.
        head_size: u32,
        /// 1: add the extra term.
        has_extra: u32,
        /// Epsilon.
        eps: f32,
        /// `H`.
        n_head: u32,
        /// Where the weights start in their buffer.
        w_off: u32,
        /// Where the biases start in theirs.
        b_off: u32,
    }
}

kernel_params! {
    /// `wkv6`, `wkv7`, `rwkv7_prep` and `rwkv7_bonus` (`shaders/wkv.wgsl`).
    pub struct WkvParams {
        /// `H`.
        n_head: u32,
        /// `S`.
        head_size: u32,
        /// Tokens `T`.
        n_tokens: u32,
        /// v7 prep and bonus: where their vector (`k_a`, `r_k`) starts in its binding.
        vec_off: u32,
    }
}

kernel_params! {
    /// `embed_<type>` (`shaders/lib/embed.wgsl`).
    pub struct EmbedParams {
        /// Row length.
        cols: u32,
        /// Bytes of one encoded row.
        row_bytes: u32,
        /// The part's first row.
        first_row: u32,
        /// Rows in the part.
        rows: u32,
        /// Which token slot to read.
        tok_index: u32,
    }
}

kernel_params! {
    /// `copy` and `noop` (`shaders/bench.wgsl`).
    pub struct BenchParams {
        /// vec4s.
        n: u32,
        /// Workgroups along x.
        groups_x: u32,
    }
}

/// A parameter struct's name and layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamsLayout {
    /// [`KernelParams::NAME`].
    pub name: &'static str,
    /// [`KernelParams::FIELDS`].
    pub fields: &'static [(&'static str, &'static str, usize)],
    /// Bytes.
    pub size: usize,
}

fn of<P: KernelParams>() -> ParamsLayout {
    ParamsLayout { name: P::NAME, fields: P::FIELDS, size: std::mem::size_of::<P>() }
}

impl Kernel {
    /// The kernel's parameter struct.
    pub fn params(self) -> ParamsLayout {
        use crate::kernels::{matmul::MatmulParams, matvec::MatvecParams};
        match self {
            Kernel::Matvec(_)
            | Kernel::MatvecSwiglu(_)
            | Kernel::MatvecRouted(_)
            | Kernel::MatvecConv(_)
            | Kernel::MatvecMulti(_)
            | Kernel::MatvecNorm(_)
            | Kernel::MatvecSwigluNorm(_)
            | Kernel::MatvecConvNorm(_)
            | Kernel::MatvecRope(_)
            | Kernel::MatvecRopeNorm(_) => of::<MatvecParams>(),
            Kernel::Matmul(_) | Kernel::MatmulAct(_) | Kernel::MatmulSwiglu(_) => of::<MatmulParams>(),
            Kernel::Embed(_) => of::<EmbedParams>(),
            Kernel::Norm => of::<NormParams>(),
            Kernel::RopeKv => of::<RopeKvParams>(),
            Kernel::AttnPartial
            | Kernel::AttnPartialRuns(_)
            | Kernel::AttnCombine
            | Kernel::AttnPrefill
            | Kernel::AttnPrefillLanes(_) => of::<AttnParams>(),
            Kernel::MambaConv | Kernel::MambaScan | Kernel::MambaScanDt => of::<MambaParams>(),
            Kernel::Swiglu => of::<SwigluParams>(),
            Kernel::MoeRoute | Kernel::MoeLists | Kernel::MoeNormRoute => of::<MoeParams>(),
            Kernel::Argmax => of::<ArgmaxParams>(),
            Kernel::SampleTopK => of::<SampleParams>(),
            Kernel::Pointwise => of::<PointwiseParams>(),
            Kernel::Copy | Kernel::Noop => of::<BenchParams>(),
            Kernel::TokenShift | Kernel::NormShift => of::<TokenShiftParams>(),
            Kernel::Wkv7Step => of::<Wkv7StepParams>(),
            Kernel::GroupNorm => of::<GroupNormParams>(),
            Kernel::Wkv6 | Kernel::Wkv7 | Kernel::Rwkv7Prep | Kernel::Rwkv7Bonus => of::<WkvParams>(),
        }
    }
}
