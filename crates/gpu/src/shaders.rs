//! The one table of WGSL sources. Kernels are plain WGSL in the top-level `shaders/` folder, one kernel
//! family per file; a kernel's source is its file joined with the shared pieces it needs (`shaders/lib/`),
//! prelude first. This file is the only place that names those paths.

use crate::kernels::matmul::MatmulTile;
use archrace_gguf::GgmlType;

/// Every kernel archrace compiles. Its name is its entry point's (with the weight encoding where there is
/// one) and its CPU twin's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `y = W x` for one weight encoding (`matvec_<type>.wgsl` + `lib/matvec.wgsl`).
    Matvec(GgmlType),
    /// `y = SiLU(gate x) * (up x)`, gate and up rows in one buffer, for one weight encoding (as `Matvec`).
    MatvecSwiglu(GgmlType),
    /// MoE: `y += sum_s weight_s (W_{expert_s} x_s)` over the chosen experts, one dispatch (as `Matvec`).
    MatvecRouted(GgmlType),
    /// Mamba's in-projection with the conv step fused in (as `Matvec`).
    MatvecConv(GgmlType),
    /// Several products of one encoding in one dispatch, each its own rows, x and activation (as `Matvec`).
    MatvecMulti(GgmlType),
    /// `y = W rmsnorm(x)`: `Matvec` with the model's RMSNorm of its input computed by each workgroup
    /// (`lib/x_norm.wgsl`), so the norm takes no dispatch of its own.
    MatvecNorm(GgmlType),
    /// `MatvecSwiglu` of the RMSNorm of its input (as `MatvecNorm`).
    MatvecSwigluNorm(GgmlType),
    /// `MatvecConv` of the RMSNorm of its input (as `MatvecNorm`).
    MatvecConvNorm(GgmlType),
    /// Attention's q/k/v product for one token with RoPE on q and k and k and v appended to the KV cache,
    /// `RopeKv` as its epilogue (as `Matvec`, + `lib/matvec_rope.wgsl`).
    MatvecRope(GgmlType),
    /// `MatvecRope` of the RMSNorm of its input (as `MatvecNorm`).
    MatvecRopeNorm(GgmlType),
    /// `Y (T, rows) = X (T, cols) W^T` for one weight encoding, for prefill (`matvec_<type>.wgsl` +
    /// `lib/matmul.wgsl`).
    Matmul(GgmlType),
    /// `Y = act(X W^T)`: `Matmul` with the activations of `MatvecMode` 5 to 11 applied as it writes Y
    /// (`lib/activation.wgsl`; RWKV's LoRA and channel-mix products). Plain `Matmul` has none, so its write
    /// carries no switch, which a software adapter evaluates case by case for every output.
    MatmulAct(GgmlType),
    /// `Y = SiLU(X G^T) * (X U^T)`: `Matmul` over a gate and an up projection in one buffer, each tile's rows
    /// alternating between them (`PAIRED` in `lib/matmul.wgsl`): the SwiGLU feed-forward's first half for a
    /// chunk, dense or one expert's, in one dispatch.
    MatmulSwiglu(GgmlType),
    /// One embedding row, decoded by the encoding's block decoder (`matvec_<type>.wgsl` + `lib/embed.wgsl`).
    Embed(GgmlType),
    /// RMSNorm and LayerNorm (`norm.wgsl`).
    Norm,
    /// RoPE on q and k, q out, k and v appended to the KV cache in its element type (`rope_kv.wgsl`).
    RopeKv,
    /// Attention decode, one (chunk, head) per workgroup (`attention.wgsl`).
    AttnPartial,
    /// Attention decode for software adapters with subgroups: `AttnPartial`'s job, a run of subgroup lanes
    /// per key, this many units (pairs of head dims) per lane (`attention_runs.wgsl`).
    AttnPartialRuns(u8),
    /// Attention decode, merging the chunks (`attention.wgsl`).
    AttnCombine,
    /// Causal attention of a prefill chunk over the cache, online softmax (`attention.wgsl`).
    AttnPrefill,
    /// Causal attention of a prefill chunk for software adapters: `AttnPrefill`'s job, a lane per four
    /// queries walking the keys, this many units (pairs of head dims) in registers (`attention_lanes.wgsl`).
    AttnPrefillLanes(u8),
    /// Mamba's causal conv step (`mamba.wgsl`).
    MambaConv,
    /// Mamba's selective-scan step (`mamba.wgsl`).
    MambaScan,
    /// Mamba's dt projection (f32 weights) and selective-scan step in one dispatch (`mamba.wgsl`).
    MambaScanDt,
    /// `SiLU(gate) * up` (`swiglu.wgsl`).
    Swiglu,
    /// MoE router: softmax and top-k (`moe_route.wgsl`).
    MoeRoute,
    /// MoE: a prefill chunk's routes as one token list per expert (`moe_route.wgsl`).
    MoeLists,
    /// MoE decode: the feed-forward's norm, the router's product and its softmax and top-k in one
    /// dispatch (`moe_route.wgsl`).
    MoeNormRoute,
    /// Greedy sampling (`sample.wgsl`).
    Argmax,
    /// Temperature, top-k, top-p, min-p and repetition penalty (`sample_top_k.wgsl`).
    SampleTopK,
    /// RWKV element-wise steps (`pointwise.wgsl`).
    Pointwise,
    /// Bandwidth reference for the bench (`bench.wgsl`).
    Copy,
    /// Dispatch-cost reference for the bench (`bench.wgsl`).
    Noop,
    /// RWKV token shift and lerps (`token_shift.wgsl`).
    TokenShift,
    /// RWKV decode: the layer's norm, then the token shift and lerps, one dispatch (`token_shift.wgsl`).
    NormShift,
    /// RWKV's per-head group norm, bonus and gate (`group_norm.wgsl`).
    GroupNorm,
    /// RWKV-6 WKV step (`wkv.wgsl`).
    Wkv6,
    /// RWKV-7 WKV step (`wkv.wgsl`).
    Wkv7,
    /// RWKV-7 key normalisation and replacement (`wkv.wgsl`).
    Rwkv7Prep,
    /// RWKV-7 `r k` bonus (`wkv.wgsl`).
    Rwkv7Bonus,
    /// RWKV-7 decode: value residual, key preparation, WKV step, bonus, group norm and gate, one dispatch
    /// (`wkv7_step.wgsl`).
    Wkv7Step,
}

/// The text of a file in `shaders/`, its path given whole or in pieces (joined with `concat!`).
macro_rules! shader {
    ($($path:literal),+) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shaders/", $($path),+))
    };
}

/// Every kernel file of `shaders/` (not `lib/`), by stem ([`Kernel::file_stem`]).
macro_rules! kernel_files {
    ($($stem:literal),* $(,)?) => {
        [$(($stem, shader!($stem, ".wgsl"))),*]
    };
}
const KERNEL_FILES: [(&str, &str); 27] = kernel_files![
    "matvec_f32",
    "matvec_f16",
    "matvec_bf16",
    "matvec_q8_0",
    "matvec_q4_0",
    "matvec_q4_1",
    "matvec_q5_0",
    "matvec_q5_1",
    "matvec_q4_k",
    "matvec_q5_k",
    "matvec_q6_k",
    "norm",
    "rope_kv",
    "attention",
    "attention_runs",
    "attention_lanes",
    "mamba",
    "swiglu",
    "moe_route",
    "sample",
    "sample_top_k",
    "pointwise",
    "bench",
    "token_shift",
    "wkv7_step",
    "group_norm",
    "wkv",
];

const PACKED: &str = shader!("lib/packed.wgsl");
const MATVEC_BODY: &str = shader!("lib/matvec.wgsl");
const BLOCK_DOT2: &str = shader!("lib/block_dot2.wgsl");
const MATVEC_CONV: &str = shader!("lib/matvec_conv.wgsl");
const CONV_STEP: &str = shader!("lib/conv_step.wgsl");
const MATVEC_ROPE: &str = shader!("lib/matvec_rope.wgsl");
const X_DIRECT: &str = shader!("lib/x_direct.wgsl");
const X_NORM: &str = shader!("lib/x_norm.wgsl");
const MATMUL_BODY: &str = shader!("lib/matmul.wgsl");
const ACTIVATION: &str = shader!("lib/activation.wgsl");
/// `activation` for the kernels that write their products as computed (plain `Matmul`).
const NO_ACTIVATION: &str = "fn activation(mode: u32, v: f32, row: u32) -> f32 {\n    return v;\n}";
const EMBED_BODY: &str = shader!("lib/embed.wgsl");
const REDUCE_SHARED: &str = shader!("lib/reduce_shared.wgsl");
const REDUCE: &str = shader!("lib/reduce.wgsl");
const REDUCE_SUBGROUP: &str = shader!("lib/reduce_subgroup.wgsl");
const ROW_SUM: &str = shader!("lib/row_sum.wgsl");
const ROW_NORM: &str = shader!("lib/row_norm.wgsl");
const ROW_SUM_SUBGROUP: &str = shader!("lib/row_sum_subgroup.wgsl");
const WKV7_ROWS1: &str = shader!("lib/wkv7_rows1.wgsl");
const WKV7_ROWS4: &str = shader!("lib/wkv7_rows4.wgsl");
/// The device check behind [`ShaderTarget::subgroups`] (not a model kernel; [`crate::subgroups::probe`]).
pub(crate) const SUBGROUP_PROBE: &str = shader!("lib/subgroup_probe.wgsl");

/// The loop cap check (`archrace_gpu::runtime::loop_budget::loop_probe`).
pub(crate) const LOOP_PROBE: &str = shader!("lib/loop_probe.wgsl");

/// The device's side of a kernel's source: which twin of the shared reductions it takes, and what its
/// shader compiler wants first. [`crate::GpuContext`] decides it once per device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShaderTarget {
    /// Row sums with subgroup shuffles (`lib/row_sum_subgroup.wgsl`) inside runs of this many lanes, the
    /// device's smallest subgroup size (a power of two, at most the matvec workgroup's 64 threads), for
    /// devices with subgroups whose layout the context checked; `None`: in workgroup memory
    /// (`lib/row_sum.wgsl`).
    pub subgroup_min: Option<u32>,
    /// The compiler wants `enable subgroups;` before a module uses them: the WGSL spec and the browsers'
    /// compilers do, while naga 30 (native wgpu) refuses the directive and takes subgroup code without it.
    pub enable_directive: bool,
    /// Tuned for a software adapter (lavapipe, SwiftShader: [`crate::GpuContext::software_tuning`]): the
    /// row-norm kernels (`norm`, `norm_shift`) take [`SOFTWARE_NORM_THREADS`] threads a row instead of 256. Their CPU
    /// threads run a workgroup a subgroup at a time and switch between its subgroups at every barrier.
    pub software: bool,
    /// The `matmul` tile this device was asked to take ([`crate::ContextOptions::matmul_tile`]), or `None`
    /// for its default ([`MatmulTile::of`]).
    pub matmul_tile: Option<MatmulTile>,
}

/// Threads per row of the row-norm kernels on a GPU: a decode step's row of up to ~8192 values spread over
/// as many threads as a workgroup may have by default.
pub const NORM_THREADS: u32 = 256;

/// The same on a software adapter: one of lavapipe's subgroups (at least the device's subgroup runs, so the
/// subgroup reductions have a whole run). Lavapipe, Jamba's demo model: a 512-token prefill's 24 norms
/// 211-217 ms with 256 threads a row, 52-55 with 64, 33-38 with 32, 25 with 8; a decode step's 13 norms
/// 0.80-0.84 ms against 0.41-0.43.
pub const SOFTWARE_NORM_THREADS: u32 = 8;

impl ShaderTarget {
    /// Whether the row sums use subgroups.
    pub fn subgroups(&self) -> bool {
        self.subgroup_min.is_some()
    }
}

/// The kernels that do not depend on a weight encoding.
const FIXED: [Kernel; 25] = [
    Kernel::Norm,
    Kernel::RopeKv,
    Kernel::AttnPartial,
    Kernel::AttnCombine,
    Kernel::AttnPrefill,
    Kernel::MambaConv,
    Kernel::MambaScan,
    Kernel::MambaScanDt,
    Kernel::Swiglu,
    Kernel::MoeRoute,
    Kernel::MoeLists,
    Kernel::MoeNormRoute,
    Kernel::Argmax,
    Kernel::SampleTopK,
    Kernel::Pointwise,
    Kernel::Copy,
    Kernel::Noop,
    Kernel::TokenShift,
    Kernel::GroupNorm,
    Kernel::Wkv6,
    Kernel::Wkv7,
    Kernel::Rwkv7Prep,
    Kernel::Rwkv7Bonus,
    Kernel::NormShift,
    Kernel::Wkv7Step,
];

impl Kernel {
    /// All kernels, for validation and pipeline warm-up.
    pub fn all() -> Vec<Kernel> {
        let per_type = GgmlType::ALL.iter().flat_map(|&t| {
            [
                Kernel::Matvec(t),
                Kernel::MatvecSwiglu(t),
                Kernel::MatvecRouted(t),
                Kernel::MatvecConv(t),
                Kernel::MatvecMulti(t),
                Kernel::MatvecNorm(t),
                Kernel::MatvecSwigluNorm(t),
                Kernel::MatvecConvNorm(t),
                Kernel::MatvecRope(t),
                Kernel::MatvecRopeNorm(t),
                Kernel::Matmul(t),
                Kernel::MatmulAct(t),
                Kernel::MatmulSwiglu(t),
                Kernel::Embed(t),
            ]
        });
        let runs = ATTN_RUNS_PER_LANE.iter().map(|&n| Kernel::AttnPartialRuns(n));
        let lanes = ATTN_LANES_UNITS.iter().map(|&n| Kernel::AttnPrefillLanes(n));
        per_type.chain(FIXED).chain(runs).chain(lanes).collect()
    }

    /// Kernels that exist only with subgroups (no portable twin): a device without them never runs
    /// these, and the runtime takes another kernel for the job there.
    pub fn needs_subgroups(self) -> bool {
        matches!(self, Kernel::AttnPartialRuns(_))
    }

    /// Kernels compiled in variants for the head shapes they hold in registers (`attn_partial_runs`,
    /// `attn_prefill_lanes`): a model compiles the one its heads take, not all of them.
    pub fn shaped_by_heads(self) -> bool {
        matches!(self, Kernel::AttnPartialRuns(_) | Kernel::AttnPrefillLanes(_))
    }

    /// A per-encoding kernel's family (the part of its name before the encoding: `matvec_swiglu_norm`) and
    /// the weight encoding it reads; `None` for the others.
    fn encoded(self) -> Option<(&'static str, GgmlType)> {
        Some(match self {
            Kernel::Matvec(t) => ("matvec", t),
            Kernel::MatvecSwiglu(t) => ("matvec_swiglu", t),
            Kernel::MatvecRouted(t) => ("matvec_routed", t),
            Kernel::MatvecConv(t) => ("matvec_conv", t),
            Kernel::MatvecMulti(t) => ("matvec_multi", t),
            Kernel::MatvecNorm(t) => ("matvec_norm", t),
            Kernel::MatvecSwigluNorm(t) => ("matvec_swiglu_norm", t),
            Kernel::MatvecConvNorm(t) => ("matvec_conv_norm", t),
            Kernel::MatvecRope(t) => ("matvec_rope", t),
            Kernel::MatvecRopeNorm(t) => ("matvec_rope_norm", t),
            Kernel::Matmul(t) => ("matmul", t),
            Kernel::MatmulAct(t) => ("matmul_act", t),
            Kernel::MatmulSwiglu(t) => ("matmul_swiglu", t),
            Kernel::Embed(t) => ("embed", t),
            _ => return None,
        })
    }

    /// The weight encoding a per-encoding kernel reads (`None` for the others).
    pub fn encoding(self) -> Option<GgmlType> {
        self.encoded().map(|(_, t)| t)
    }

    /// The kernel's name (`matvec_q4_k`, `rope`), and its CPU twin's.
    pub fn name(self) -> String {
        if let Some((family, t)) = self.encoded() {
            return format!("{family}_{}", t.name().to_lowercase());
        }
        match self {
            Kernel::AttnPartialRuns(n) => format!("attn_partial_runs_{n}"),
            Kernel::AttnPrefillLanes(n) => format!("attn_prefill_lanes_{n}"),
            other => other.entry_point().to_string(),
        }
    }

    /// The WGSL entry point.
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Matvec(_) | Kernel::MatvecNorm(_) => "matvec",
            Kernel::MatvecSwiglu(_) | Kernel::MatvecSwigluNorm(_) => "matvec_swiglu",
            Kernel::MatvecRouted(_) => "matvec_routed",
            Kernel::MatvecConv(_) | Kernel::MatvecConvNorm(_) => "matvec_conv",
            Kernel::MatvecRope(_) | Kernel::MatvecRopeNorm(_) => "matvec_rope",
            Kernel::MatvecMulti(_) => "matvec_multi",
            Kernel::Matmul(_) | Kernel::MatmulAct(_) | Kernel::MatmulSwiglu(_) => "matmul",
            Kernel::Embed(_) => "embed",
            Kernel::Norm => "norm",
            Kernel::RopeKv => "rope_kv",
            Kernel::AttnPartial => "attn_partial",
            Kernel::AttnPartialRuns(_) => "attn_partial_runs",
            Kernel::AttnCombine => "attn_combine",
            Kernel::AttnPrefill => "attn_prefill",
            Kernel::AttnPrefillLanes(_) => "attn_prefill_lanes",
            Kernel::MambaConv => "mamba_conv",
            Kernel::MambaScan => "mamba_scan",
            Kernel::MambaScanDt => "mamba_scan_dt",
            Kernel::Swiglu => "swiglu",
            Kernel::MoeRoute => "moe_route",
            Kernel::MoeLists => "moe_lists",
            Kernel::MoeNormRoute => "moe_norm_route",
            Kernel::Argmax => "argmax",
            Kernel::SampleTopK => "sample_top_k",
            Kernel::Pointwise => "pointwise",
            Kernel::Copy => "copy",
            Kernel::Noop => "noop",
            Kernel::TokenShift => "token_shift",
            Kernel::GroupNorm => "group_norm",
            Kernel::Wkv6 => "wkv6",
            Kernel::Wkv7 => "wkv7",
            Kernel::Rwkv7Prep => "rwkv7_prep",
            Kernel::Rwkv7Bonus => "rwkv7_bonus",
            Kernel::NormShift => "norm_shift",
            Kernel::Wkv7Step => "wkv7_step",
        }
    }

    /// The stem of the kernel's own file in `shaders/` (several kernels of one family share a file).
    pub fn file_stem(self) -> String {
        if let Some(t) = self.encoding() {
            return format!("matvec_{}", t.name().to_lowercase());
        }
        match self {
            Kernel::AttnPartial | Kernel::AttnCombine | Kernel::AttnPrefill => "attention".into(),
            Kernel::AttnPartialRuns(_) => "attention_runs".into(),
            Kernel::AttnPrefillLanes(_) => "attention_lanes".into(),
            Kernel::MoeLists | Kernel::MoeNormRoute => "moe_route".into(),
            Kernel::MambaConv | Kernel::MambaScan | Kernel::MambaScanDt => "mamba".into(),
            Kernel::Argmax => "sample".into(),
            Kernel::NormShift => "token_shift".into(),
            Kernel::Copy | Kernel::Noop => "bench".into(),
            Kernel::Wkv6 | Kernel::Wkv7 | Kernel::Rwkv7Prep | Kernel::Rwkv7Bonus => "wkv".into(),
            other => other.entry_point().into(),
        }
    }

    /// The kernel's own file: [`Kernel::file_stem`]'s, so the two cannot disagree.
    fn file(self) -> &'static str {
        let stem = self.file_stem();
        KERNEL_FILES
            .iter()
            .find(|(s, _)| *s == stem)
            .map(|(_, source)| *source)
            .expect("every kernel's file stem is in KERNEL_FILES (every kernel is compiled by tests/tests/shaders.rs)")
    }

    /// Whether the kernel adds per-row partial sums with `row_sum`, or reduces across its workgroup with
    /// `lib/reduce.wgsl`: both have a subgroup twin.
    pub fn has_subgroup_twin(self) -> bool {
        self.sums_rows() || self.reduces()
    }

    fn sums_rows(self) -> bool {
        matches!(
            self,
            Kernel::Matvec(_)
                | Kernel::MatvecSwiglu(_)
                | Kernel::MatvecRouted(_)
                | Kernel::MatvecConv(_)
                | Kernel::MatvecMulti(_)
                | Kernel::MatvecNorm(_)
                | Kernel::MatvecSwigluNorm(_)
                | Kernel::MatvecConvNorm(_)
                | Kernel::MatvecRope(_)
                | Kernel::MatvecRopeNorm(_)
        )
    }

    /// The matvec kernels whose row groups each compute a pair of adjacent rows, each block of x read once
    /// for both (every one but `matvec_swiglu`, whose pair is a gate row and its up row): their dispatch
    /// counts pairs ([`crate::kernels::matvec::MatvecParams::fit`]).
    pub fn takes_row_pairs(self) -> bool {
        self.sums_rows() && !matches!(self, Kernel::MatvecSwiglu(_) | Kernel::MatvecSwigluNorm(_))
    }

    /// The matvec kernels that normalise their input themselves (`lib/x_norm.wgsl`).
    pub fn norms_input(self) -> bool {
        matches!(
            self,
            Kernel::MatvecNorm(_) | Kernel::MatvecSwigluNorm(_) | Kernel::MatvecConvNorm(_) | Kernel::MatvecRopeNorm(_)
        )
    }

    /// Kernels that normalise rows themselves (`lib/row_norm.wgsl`, over the reductions).
    fn normalises_rows(self) -> bool {
        matches!(
            self,
            Kernel::Norm
                | Kernel::MoeRoute
                | Kernel::MoeLists
                | Kernel::MoeNormRoute
                | Kernel::TokenShift
                | Kernel::NormShift
        )
    }

    /// Kernels that use the workgroup reductions (`lib/reduce.wgsl` or its twin).
    fn reduces(self) -> bool {
        self.normalises_rows()
            || matches!(
                self,
                Kernel::GroupNorm
                    | Kernel::AttnPartial
                    | Kernel::AttnCombine
                    | Kernel::AttnPrefill
                    | Kernel::Argmax
                    | Kernel::SampleTopK
                    | Kernel::Wkv6
                    | Kernel::Wkv7
                    | Kernel::Rwkv7Prep
                    | Kernel::Rwkv7Bonus
                    | Kernel::Wkv7Step
            )
    }

    /// The complete portable WGSL source (what any WebGPU device runs): shared prelude, the kernel's file,
    /// the shared body or reductions.
    pub fn source(self) -> String {
        self.source_for(ShaderTarget::default())
    }

    /// The complete WGSL source for a device: as [`Kernel::source`], with the subgroup twins of the row
    /// sums and the workgroup reductions, their `SUBGROUP_MIN` and the directive that enables subgroups
    /// (first, where the compiler wants one) when `target` asks for subgroups and the kernel has a twin.
    pub fn source_for(self, target: ShaderTarget) -> String {
        let min = target.subgroup_min.filter(|_| self.has_subgroup_twin() || self.needs_subgroups());
        let (enable, row_sum, reduce) = match min {
            Some(m) => {
                let enable = if target.enable_directive { "enable subgroups;\n" } else { "" };
                (format!("{enable}const SUBGROUP_MIN: u32 = {m}u;"), ROW_SUM_SUBGROUP, REDUCE_SUBGROUP)
            }
            None => (String::new(), ROW_SUM, REDUCE),
        };
        if self.reduces() {
            // Their files normalise rows themselves where they need to (and declare the `x` the
            // statistics read).
            let norm = if self.normalises_rows() { ROW_NORM } else { "" };
            let threads = match self {
                Kernel::Norm | Kernel::TokenShift | Kernel::NormShift => {
                    format!("const WG: u32 = {}u;", norm_threads(target))
                }
                // Every kernel of wkv.wgsl takes wkv7's shape, as each module holds `wkv7`; the decode
                // step takes it for its state rows.
                Kernel::Wkv6 | Kernel::Wkv7 | Kernel::Rwkv7Prep | Kernel::Rwkv7Bonus | Kernel::Wkv7Step => {
                    wkv7_shape(target).source().to_string()
                }
                _ => String::new(),
            };
            return [&enable, &threads, self.file(), REDUCE_SHARED, reduce, norm].join("\n");
        }
        if self.sums_rows() {
            let x = if self.norms_input() { X_NORM } else { X_DIRECT };
            // The entry points that bind more than the body's five buffers come in pieces of their own.
            let extra = match self {
                Kernel::MatvecConv(_) | Kernel::MatvecConvNorm(_) => [MATVEC_CONV, CONV_STEP].join("\n"),
                Kernel::MatvecRope(_) | Kernel::MatvecRopeNorm(_) => MATVEC_ROPE.to_string(),
                _ => String::new(),
            };
            let dot2 = if self.encoding().is_some_and(defines_block_dot2) { "" } else { BLOCK_DOT2 };
            return [&enable, PACKED, self.file(), dot2, x, MATVEC_BODY, ACTIVATION, &extra, row_sum].join("\n");
        }
        if let Kernel::AttnPartialRuns(per_lane) = self {
            // Without subgroups, SUBGROUP_MIN stays undefined and the module fails to compile: a kernel
            // without a portable twin (Kernel::needs_subgroups).
            return [&enable, &format!("const PER_LANE: u32 = {per_lane}u;"), self.file()].join("\n");
        }
        if let Kernel::AttnPrefillLanes(units) = self {
            return [&format!("const DU: u32 = {units}u;"), self.file()].join("\n");
        }
        match self {
            Kernel::Matmul(_) | Kernel::MatmulAct(_) | Kernel::MatmulSwiglu(_) => {
                let paired = matches!(self, Kernel::MatmulSwiglu(_));
                let tile = format!("{}\nconst PAIRED: bool = {paired};", MatmulTile::of(target).source());
                let act = if matches!(self, Kernel::MatmulAct(_)) { ACTIVATION } else { NO_ACTIVATION };
                [&tile, PACKED, self.file(), MATMUL_BODY, act].join("\n")
            }
            Kernel::Embed(_) => [PACKED, self.file(), EMBED_BODY].join("\n"),
            // Mamba's conv step, which `matvec_conv` shares, reads mamba.wgsl's `consts` and `conv_state`;
            // every kernel of the file takes it, as each module holds `mamba_conv`, which calls it.
            Kernel::MambaConv | Kernel::MambaScan | Kernel::MambaScanDt => [self.file(), CONV_STEP].join("\n"),
            _ => self.file().to_string(),
        }
    }
}

/// How `wkv7` (`shaders/wkv.wgsl`) and `wkv7_step` share out a head's state rows on a device ([`wkv7_shape`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wkv7Shape {
    /// State rows one thread runs (`ROWS`).
    pub rows: u32,
    /// Threads a workgroup (`WKV7_WG`).
    pub threads: u32,
}

impl Wkv7Shape {
    /// The workgroups of a `wkv7` dispatch over `n_head` heads of `head_size` rows.
    pub fn groups(self, n_head: usize, head_size: usize) -> [u32; 3] {
        let threads = n_head * head_size.div_ceil(self.rows as usize);
        [u32::try_from(threads.div_ceil(self.threads as usize)).unwrap_or(u32::MAX), 1, 1]
    }

    /// The WGSL that sets it (`ROWS`, `WKV7_WG`, the `Rows` type and its accessors).
    fn source(self) -> &'static str {
        match self.rows {
            4 => WKV7_ROWS4,
            _ => WKV7_ROWS1,
        }
    }
}

/// `wkv7`'s and `wkv7_step`'s shape on a device: a state row a thread and 64 threads a workgroup on a GPU;
/// four rows a thread (the components of a vec4) and 8 threads a workgroup on a software adapter, whose CPU
/// threads read memory lane by lane, uniform addresses too, so there a token's reads of w, k, kk, kk a and
/// r cost more than the products they serve. Lavapipe, RWKV-7 demo model: `wkv7` in a 512-token prefill
/// 461-480 -> 135-140 ms, `wkv7_step` in a decode step 1.6-1.9 -> 1.0-1.1 ms (5 layers).
pub fn wkv7_shape(target: ShaderTarget) -> Wkv7Shape {
    match target.software {
        true => Wkv7Shape { rows: 4, threads: 8 },
        false => Wkv7Shape { rows: 1, threads: 64 },
    }
}

/// Threads per row of the row-norm kernels (`norm`, `norm_shift`) on a device ([`ShaderTarget::software`]).
pub fn norm_threads(target: ShaderTarget) -> u32 {
    match target.software {
        true => SOFTWARE_NORM_THREADS.max(target.subgroup_min.unwrap_or(0)).min(NORM_THREADS),
        false => NORM_THREADS,
    }
}

/// Units per lane `attention_runs.wgsl` is compiled for (`Kernel::AttnPartialRuns`): powers of two up to 32
/// (a head dim up to 256 on SwiftShader's subgroups of 4, up to 512 on lavapipe's 8).
pub const ATTN_RUNS_PER_LANE: [u8; 6] = [1, 2, 4, 8, 16, 32];

/// The `attn_partial_runs` a decode step of heads of `head_dim` takes on a device whose subgroups come in
/// runs of `subgroup_min` lanes: the fewest units (pairs of dims) per lane that cover the head; `None` for an
/// odd head dim or one wider than [`ATTN_RUNS_PER_LANE`] covers (the step takes `attn_partial`).
pub fn attn_runs_kernel(head_dim: usize, subgroup_min: u32) -> Option<Kernel> {
    if !head_dim.is_multiple_of(2) || subgroup_min == 0 {
        return None;
    }
    let per_lane = (head_dim / 2).div_ceil(subgroup_min as usize).next_power_of_two();
    ATTN_RUNS_PER_LANE.into_iter().find(|&n| usize::from(n) == per_lane).map(Kernel::AttnPartialRuns)
}

/// Units (pairs of head dims) per lane `attention_lanes.wgsl` is compiled for (`Kernel::AttnPrefillLanes`):
/// powers of two up to 64 (heads of up to 128 dims; wider ones keep `attn_prefill`, whose lanes' registers
/// would not hold four queries and their accumulators).
pub const ATTN_LANES_UNITS: [u8; 7] = [1, 2, 4, 8, 16, 32, 64];

/// The `attn_prefill_lanes` a prefill chunk of heads of `head_dim` takes on a software adapter: the fewest
/// units per lane that cover the head; `None` for an odd head dim or one wider than [`ATTN_LANES_UNITS`]
/// covers (the chunk takes `attn_prefill`).
pub fn attn_lanes_kernel(head_dim: usize) -> Option<Kernel> {
    if !head_dim.is_multiple_of(2) || head_dim == 0 {
        return None;
    }
    let units = (head_dim / 2).next_power_of_two();
    ATTN_LANES_UNITS.into_iter().find(|&n| usize::from(n) == units).map(Kernel::AttnPrefillLanes)
}

/// Whether the encoding's file defines `block_dot2` itself: the K-quants, whose `block_dot` loops over a
/// super-block and whose pair of rows shares its reads of x inside that loop. The others take the generic
/// one (`lib/block_dot2.wgsl`: `block_dot` twice).
pub fn defines_block_dot2(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K)
}
