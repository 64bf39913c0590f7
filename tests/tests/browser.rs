//! In the browser (headless Chromium, SwiftShader WebGPU): the same kernel, the same CPU twin.
//! Run with `cargo test --target wasm32-unknown-unknown -p archrace-tests --test browser` (scripts/dev test).
#![cfg(target_arch = "wasm32")]

use archrace_gguf::GgmlType;
use archrace_gpu::{matvec_q8_0_selftest, ContextOptions, GpuContext, GpuError, Matvec};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn webgpu_adapter_exists_and_reports_limits() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter (Chromium needs --enable-unsafe-webgpu)");
    assert_eq!(ctx.report.backend, "BrowserWebGpu");
    assert!(ctx.report.limits.max_storage_buffer_binding_size >= 128 << 20, "{:?}", ctx.report);
}

/// SwiftShader runs one invocation's 300 x 400 = 120,000 loop iterations to the end: no loop cap, as the
/// runtime assumes there (`GpuContext::loop_limit` is llvmpipe's alone), so its chunks and attention
/// passes stay whole in the browser.
#[wasm_bindgen_test]
async fn swiftshader_runs_loops_to_the_end() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter");
    assert_eq!(ctx.loop_limit, None);
    let count = archrace_gpu::runtime::loop_budget::loop_probe(&ctx, 300, 400).await.unwrap();
    assert_eq!(count, 120_000, "SwiftShader stopped a loop early");
}

/// The device is asked for `subgroups` (which wgpu 30 does not do in the browser) and the kernels take
/// their subgroup twins: SwiftShader offers the feature and passes the layout probe, with subgroups of 4.
/// The page's `GPUAdapter.prototype.requestDevice`, wrapped while the device is asked for, is the
/// browser's own again afterwards (a page that embeds a widget never sees the wrapper).
#[wasm_bindgen_test]
async fn the_browser_device_gets_subgroups_and_the_kernels_take_their_subgroup_twins() {
    let prototype = get(&get(&js_sys::global(), "GPUAdapter"), "prototype");
    let before = get(&prototype, "requestDevice");
    let [ctx, portable] = both_twins().await;
    assert!(js_sys::Object::is(&before, &get(&prototype, "requestDevice")), "requestDevice was left wrapped");
    assert!(ctx.report.subgroups, "{:?}", ctx.report);
    let target = ctx.shader_target();
    assert!(target.enable_directive);
    assert_eq!(target.subgroup_min, Some(4), "{}", ctx.report.row_sums);
    assert!(ctx.report.row_sums.starts_with("subgroup shuffles"), "{}", ctx.report.row_sums);
    assert_eq!(portable.shader_target().subgroup_min, None);
    assert_eq!(portable.report.row_sums, "workgroup memory (subgroups turned off)");
}

/// Both twins' contexts: the device's own choice (subgroup shuffles here) and the portable one.
async fn both_twins() -> [GpuContext; 2] {
    let with = GpuContext::new().await.expect("a WebGPU adapter");
    let without = GpuContext::with_options(ContextOptions { subgroups: false, ..Default::default() })
        .await
        .expect("a WebGPU adapter");
    [with, without]
}

/// Every kernel compiles in the browser's WebGPU (Tint), whose uniformity analysis is stricter than naga's
/// (a barrier after a return that depends on a thread's row passes naga and fails here), including the
/// kernels no bundled model uses: all of them on the device's own choice of twins, and the portable twin
/// of each kernel that has two (the others' source is the same on both), the matvec family in one
/// encoding: a twin differs from its sibling only in the row sums, which every encoding's `block_dot`
/// leaves alone (no barrier, no workgroup memory of its own), and the portable family in all 11 encodings
/// took this suite from 343 s to 370-400 s on SwiftShader. Likewise `matmul`'s variants that write
/// differently (`matmul_act`, `matmul_swiglu`) in one encoding (the bundled models compile theirs in
/// theirs): they differ from `matmul`, compiled in all of them, only in which rows they load and how they
/// write Y, which no encoding's `dequant4` touches.
#[wasm_bindgen_test]
async fn every_kernel_compiles_on_webgpu() {
    use archrace_gpu::Kernel;
    let [with, without] = both_twins().await;
    let one_encoding = |k: &Kernel| k.encoding().is_none_or(|t| t == GgmlType::Q4_K);
    let matmul_variant = |k: &Kernel| matches!(k, Kernel::MatmulAct(_) | Kernel::MatmulSwiglu(_));
    let all: Vec<_> = Kernel::all().into_iter().filter(|k| !matmul_variant(k) || one_encoding(k)).collect();
    let twins: Vec<_> = all.iter().copied().filter(|k| k.has_subgroup_twin() && one_encoding(k)).collect();
    for (ctx, kernels) in [(with, all), (without, twins)] {
        let mut pipelines = archrace_gpu::pipelines::Pipelines::default();
        pipelines
            .ensure(&ctx, kernels.iter().copied())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx.report.row_sums));
        assert_eq!(ctx.pipelines.compiled(), kernels.len());
    }
}

#[wasm_bindgen_test]
async fn matvec_q8_0_matches_cpu_on_webgpu() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter");
    let report = matvec_q8_0_selftest(&ctx, 96, 512 + 32, 3).await.expect("selftest runs");
    assert!(report.pass, "{:?}", report.mismatch);
}

#[wasm_bindgen_test]
async fn matvec_q8_0_rejects_mismatched_shapes_on_webgpu() {
    let ctx = GpuContext::new().await.expect("a WebGPU adapter");
    let kernel = Matvec::new(&ctx, GgmlType::Q8_0).await.expect("pipeline");
    let w = vec![0u8; 2 * 34];
    let err = kernel.run(&ctx, &w, &[1.0; 64], 3, 64).await.unwrap_err();
    assert!(matches!(err, GpuError::BadInput(_)), "{err}");
}

/// The GPU sampler (`sample_top_k`: its radix select's workgroup atomics and scans, the tie order) picks
/// what the CPU sampler picks, on both twins: the page's settings and three others over 1,000 logits in
/// steps of 1/4 (ties at the k-th logit), then 65,536 distinct and 65,536 tied logits at top-k 64.
#[wasm_bindgen_test]
async fn sample_top_k_matches_the_cpu_sampler_on_webgpu() {
    use archrace_model::Sampler;
    use archrace_tests::sampling::{gpu_and_cpu_picks, sampler_configs};
    for ctx in both_twins().await {
        let twin = &ctx.report.row_sums;
        let mut rng = archrace_cpu::SplitMix64::new(21);
        let history: Vec<u32> = (0..80).map(|_| (rng.next_u64() % 1000) as u32).collect();
        let configs = sampler_configs();
        for config in &configs {
            let mut samplers = (Sampler::new(config.clone()), Sampler::new(config.clone()));
            for draw in 0..5 {
                let logits: Vec<f32> = (0..1000).map(|_| (rng.uniform(-4.0, 4.0) * 4.0).round() / 4.0).collect();
                let (got, want) = gpu_and_cpu_picks(&ctx, &mut samplers, &logits, &history).await;
                assert_eq!(got, want, "{twin}: {config:?}, draw {draw}");
            }
        }
        let mut samplers = (Sampler::new(configs[1].clone()), Sampler::new(configs[1].clone()));
        let distinct = rng.vec(65_536, -8.0, 8.0);
        let tied: Vec<f32> = distinct.iter().map(|v| (v * 4.0).round() / 4.0).collect();
        for (what, logits) in [("distinct", distinct), ("tied", tied)] {
            let (got, want) = gpu_and_cpu_picks(&ctx, &mut samplers, &logits, &[]).await;
            assert_eq!(got, want, "{twin}: 65,536 {what} logits");
        }
    }
}

#[wasm_bindgen_test]
async fn matvec_matches_cpu_for_every_encoding_on_webgpu() {
    for ctx in both_twins().await {
        matvec_matches_cpu_for_every_encoding(&ctx).await;
    }
}

async fn matvec_matches_cpu_for_every_encoding(ctx: &GpuContext) {
    use archrace_cpu::{compare, ops::matmul::matmul, SplitMix64, Tolerance};
    let twin = &ctx.report.row_sums;
    for ty in GgmlType::ALL {
        let kernel = Matvec::new(ctx, ty).await.unwrap_or_else(|e| panic!("{ty}: {e}"));
        let (rows, cols) = (5, 2 * ty.block_size().max(4));
        let mut rng = SplitMix64::new(ty as u64);
        let w = archrace_tests::data::random_encoded(ty, rows, cols, &mut rng);
        let x = rng.vec(cols, -2.0, 2.0);
        let tensor = archrace_model::Tensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], data: &w };
        let got = kernel.run(ctx, &w, &x, rows, cols).await.expect("runs");
        if let Err(m) = compare(&matmul(&tensor, &x, 1), &got.y, Tolerance { abs: 1e-6, rel: 5e-5 }) {
            panic!("matvec_{} on WebGPU, {twin}: {m}", ty.name().to_lowercase());
        }
    }
}

/// Whole models decoded on WebGPU, one token per step, against llama.cpp's logits (1e-4 of the row's max
/// |logit|), and GPU greedy decoding against the CPU reference compiled to wasm.
mod models {
    use archrace_cpu::CpuModel;
    use archrace_gguf::Gguf;
    use archrace_gpu::kernels::matvec::{SOFTWARE_ROW_THREADS, WORKGROUP};
    use archrace_gpu::{ContextOptions, GpuContext, GpuModel};
    use wasm_bindgen_test::*;

    /// max |got - want| / scale, infinite when a value is NaN or infinite (a broken row never passes).
    fn rel_err(got: &[f32], want: &[f32], scale: f32) -> f32 {
        if got.len() != want.len() || got.iter().chain(want).any(|v| !v.is_finite()) {
            return f32::INFINITY;
        }
        got.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
    }

    #[wasm_bindgen_test]
    fn rel_err_fails_rows_with_nan_or_infinity() {
        assert_eq!(rel_err(&[1.0, 2.5], &[1.0, 2.0], 2.0), 0.25);
        assert_eq!(rel_err(&[f32::NAN; 2], &[1.0, 2.0], 2.0), f32::INFINITY);
        assert_eq!(rel_err(&[1.0, 2.0], &[f32::INFINITY, 2.0], 2.0), f32::INFINITY);
        assert_eq!(rel_err(&[1.0], &[1.0, 2.0], 2.0), f32::INFINITY);
    }

    /// Lets the browser run its event loop (a macrotask: the test driver's requests get through).
    async fn yield_to_browser() {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let window = web_sys::window().expect("a window");
            window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0).expect("setTimeout");
        });
        wasm_bindgen_futures::JsFuture::from(promise).await.expect("a timer");
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/", $name))
        };
    }

    /// The model's logits at every golden position, with the runtime tuned as for this adapter (a software
    /// adapter: SwiftShader, the browser's fallback; norms apart, up to 2 threads a matvec row, 8-thread
    /// norms) and, with `gpu_tuning`, on the same adapter as for a GPU (the normed matvec twins, up to 64
    /// threads a row, 256-thread norms: the WGSL a real GPU's browser compiles).
    async fn check(gguf: &[u8], golden: &[u8], gpu_tuning: bool) {
        let software = GpuContext::new().await.expect("a WebGPU adapter");
        assert!(software.report.software, "SwiftShader is the browser's fallback adapter");
        assert!(software.software_tuning(), "tuned for it by default");
        let mut contexts = vec![("software tuning", software)];
        if gpu_tuning {
            let options = ContextOptions { software_tuning: false, ..Default::default() };
            contexts.push(("a GPU's tuning", GpuContext::with_options(options).await.expect("a second device")));
        }
        let g = Gguf::parse(gguf).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let golden: serde_json::Value = serde_json::from_slice(golden).unwrap();
        for (tuning, ctx) in &contexts {
            let gpu = GpuModel::new(ctx, &cpu.spec, &cpu.weights).await.expect("model on WebGPU");
            assert_eq!(gpu.fused_norms(), !ctx.software_tuning(), "{tuning}: norms");
            let threads = if ctx.software_tuning() { SOFTWARE_ROW_THREADS } else { WORKGROUP };
            assert_eq!(gpu.max_row_threads(), threads, "{tuning}: threads per row");
            let mut state = gpu.new_state(ctx).unwrap();
            state.kv_type = archrace_model::KvType::F32; // as llama.cpp's goldens and the CPU
            let tokens = golden["tokens"].as_array().unwrap();
            for (pos, (tok, row)) in tokens.iter().zip(golden["logits"].as_array().unwrap()).enumerate() {
                let got = gpu.logits(ctx, &mut state, tok.as_u64().unwrap() as u32).await.unwrap();
                let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                let err = rel_err(&got, &want, scale);
                assert!(err <= 1e-4, "{} ({tuning}): position {pos}: relative error {err:.2e}", cpu.spec.name);
            }
        }
    }

    #[wasm_bindgen_test]
    async fn llama_logits_on_webgpu() {
        check(fixture!("llama-q8_0.gguf"), fixture!("llama-q8_0.logits.json"), true).await;
    }

    #[wasm_bindgen_test]
    async fn mamba_logits_on_webgpu() {
        check(fixture!("mamba-q8_0.gguf"), fixture!("mamba-q8_0.logits.json"), false).await;
    }

    #[wasm_bindgen_test]
    async fn rwkv7_logits_on_webgpu() {
        check(fixture!("rwkv7-q8_0.gguf"), fixture!("rwkv7-q8_0.logits.json"), false).await;
    }

    /// 4,096 tokens prefilled on WebGPU in chunks of 512 (the KV cache growing on the way), then the
    /// next token's logits against the CPU reference compiled to wasm; Jamba, which has attention, Mamba
    /// and MoE layers; and its prefill logits for every golden position against llama.cpp's.
    #[wasm_bindgen_test]
    async fn jamba_prefills_4k_tokens_on_webgpu() {
        use archrace_gpu::PrefillLogits;
        let ctx = GpuContext::new().await.expect("a WebGPU adapter");
        let g = Gguf::parse(fixture!("jamba-q8_0.gguf")).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let gpu = GpuModel::new(&ctx, &cpu.spec, &cpu.weights).await.expect("model on WebGPU");
        let mut rng = archrace_cpu::SplitMix64::new(5);
        let tokens: Vec<u32> = (0..4097).map(|_| (rng.next_u64() % cpu.spec.n_vocab as u64) as u32).collect();
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = archrace_model::KvType::F32; // as llama.cpp's goldens and the CPU
        gpu.prefill(&ctx, &mut state, &tokens[..4096], PrefillLogits::None).await.expect("prefill on WebGPU");
        assert_eq!(state.pos, 4096);
        let got = gpu.logits(&ctx, &mut state, tokens[4096]).await.unwrap();
        let mut cpu_state = cpu.new_state();
        let mut want = Vec::new();
        for piece in tokens.chunks(256) {
            want = cpu.forward(&mut cpu_state, piece).unwrap();
            yield_to_browser().await; // the CPU reference runs on the page's thread: let the driver in
        }
        let want = &want[want.len() - cpu.spec.n_vocab..];
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = rel_err(&got, want, scale);
        assert!(err <= 1e-4, "next logits after 4,096 prefilled tokens: relative error {err:.2e}");

        let golden: serde_json::Value = serde_json::from_slice(fixture!("jamba-q8_0.logits.json")).unwrap();
        let ids: Vec<u32> = golden["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = archrace_model::KvType::F32; // as llama.cpp's goldens and the CPU
        state.work.prefill_chunk = 7;
        let all = gpu.prefill(&ctx, &mut state, &ids, PrefillLogits::All).await.unwrap();
        for (pos, row) in golden["logits"].as_array().unwrap().iter().enumerate() {
            let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let got = &all[pos * want.len()..][..want.len()];
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = rel_err(got, &want, scale);
            assert!(err <= 1e-4, "prefill position {pos}: relative error {err:.2e}");
        }
    }

    /// SwiftShader's attention decode (`attn_partial_runs` on its subgroups of 4, the default on a software
    /// adapter for an f16 cache) and GPUs' `attn_partial` give the same logits and greedy tokens from an
    /// f16 cache filled by prefill, at positions from one chunk of keys to several (past 256).
    #[wasm_bindgen_test]
    async fn attention_runs_match_attn_partial_on_webgpu() {
        use archrace_gpu::PrefillLogits;
        let ctx = GpuContext::new().await.expect("a WebGPU adapter");
        let g = Gguf::parse(fixture!("llama-q8_0.gguf")).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let mut gpu = GpuModel::new(&ctx, &cpu.spec, &cpu.weights).await.unwrap();
        assert!(gpu.attention_runs(), "SwiftShader (software, subgroups) takes the runs by default");
        let mut rng = archrace_cpu::SplitMix64::new(11);
        let tokens: Vec<u32> = (0..260).map(|_| (rng.next_u64() % cpu.spec.n_vocab as u64) as u32).collect();
        let mut ways = Vec::new();
        for runs in [true, false] {
            gpu.set_attention_runs(runs);
            let mut state = gpu.new_state(&ctx).unwrap();
            gpu.prefill(&ctx, &mut state, &tokens[..252], PrefillLogits::None).await.unwrap();
            let mut logits = Vec::new();
            for &token in &tokens[252..] {
                logits.push(gpu.logits(&ctx, &mut state, token).await.unwrap());
            }
            ways.push(logits);
        }
        for (pos, (a, b)) in ways[0].iter().zip(&ways[1]).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = rel_err(a, b, scale);
            assert!(err <= 1e-5, "position {}: runs against attn_partial, relative error {err:.2e}", 252 + pos);
            let argmax = archrace_model::sample::argmax;
            assert_eq!(argmax(a), argmax(b), "position {}: greedy", 252 + pos);
        }
    }

    /// SwiftShader's attention prefill (`attn_prefill_lanes`, the default on a software adapter for an f16
    /// cache) and GPUs' `attn_prefill` give the same logits at every position of 200 tokens, in chunks of
    /// 64 whose attention reads the keys in passes of 50 (the softmax state carried between passes).
    #[wasm_bindgen_test]
    async fn attention_lanes_match_attn_prefill_on_webgpu() {
        use archrace_gpu::PrefillLogits;
        let ctx = GpuContext::new().await.expect("a WebGPU adapter");
        let g = Gguf::parse(fixture!("llama-q8_0.gguf")).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let mut gpu = GpuModel::new(&ctx, &cpu.spec, &cpu.weights).await.unwrap();
        assert!(gpu.attention_lanes(), "SwiftShader (software) takes the lanes by default");
        let mut rng = archrace_cpu::SplitMix64::new(13);
        let tokens: Vec<u32> = (0..200).map(|_| (rng.next_u64() % cpu.spec.n_vocab as u64) as u32).collect();
        let mut ways = Vec::new();
        for lanes in [true, false] {
            gpu.set_attention_lanes(lanes);
            let mut state = gpu.new_state(&ctx).unwrap();
            (state.work.prefill_chunk, state.work.attn_pass_keys) = (64, 50);
            ways.push(gpu.prefill(&ctx, &mut state, &tokens, PrefillLogits::All).await.unwrap());
        }
        let n_vocab = cpu.spec.n_vocab;
        for pos in 0..tokens.len() {
            let (a, b) = (&ways[0][pos * n_vocab..][..n_vocab], &ways[1][pos * n_vocab..][..n_vocab]);
            let err = rel_err(a, b, b.iter().fold(0f32, |m, v| m.max(v.abs())));
            assert!(err <= 1e-4, "position {pos}: lanes against attn_prefill, relative error {err:.2e}");
        }
    }

    #[wasm_bindgen_test]
    async fn jamba_logits_and_greedy_on_webgpu() {
        // Jamba takes every normed twin (q/k/v, Mamba's in-projection, dense gate/up, the output head).
        check(fixture!("jamba-q4_0.gguf"), fixture!("jamba-q4_0.logits.json"), true).await;
        let ctx = GpuContext::new().await.expect("a WebGPU adapter");
        let g = Gguf::parse(fixture!("jamba-q4_0.gguf")).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let gpu = GpuModel::new(&ctx, &cpu.spec, &cpu.weights).await.unwrap();
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = archrace_model::KvType::F32; // as llama.cpp's goldens and the CPU
        let mut cpu_state = cpu.new_state();
        let (mut gpu_tok, mut cpu_tok) = (84u32, 84u32);
        for step in 0..12 {
            gpu_tok = gpu.greedy(&ctx, &mut state, (step == 0).then_some(gpu_tok)).await.unwrap();
            cpu_tok = archrace_model::sample::argmax(&cpu.forward(&mut cpu_state, &[cpu_tok]).unwrap());
            assert_eq!(gpu_tok, cpu_tok, "step {step}");
        }
    }
}

/// The subgroup twins of the matvec kernels and of the kernels with workgroup reductions
/// (`ShaderTarget::subgroups`) need the `enable subgroups;` directive the source puts first for browsers:
/// Tint refuses them without it. (`every_kernel_compiles_on_webgpu` compiles them all with it, through
/// the context's device.) The device here comes from the WebGPU API directly, asked for `subgroups`.
#[wasm_bindgen_test]
async fn subgroup_twins_need_their_directive_in_the_browser() {
    use archrace_gpu::{Kernel, ShaderTarget};
    use js_sys::{Array, Object, Reflect};
    let gpu = get(&js_sys::global(), "navigator");
    let gpu = get(&gpu, "gpu");
    let adapter = wait(call(&gpu, "requestAdapter", &[])).await;
    let has = call(&get(&adapter, "features"), "has", &["subgroups".into()]);
    assert_eq!(has.as_bool(), Some(true), "Chromium's SwiftShader adapter offers subgroups");
    let descriptor = Object::new();
    Reflect::set(&descriptor, &"requiredFeatures".into(), &Array::of1(&"subgroups".into())).unwrap();
    let device = wait(call(&adapter, "requestDevice", &[descriptor.into()])).await;
    // SwiftShader: subgroups of 4.
    let browser = ShaderTarget { subgroup_min: Some(4), enable_directive: true, software: true, matmul_tile: None };
    let twins: Vec<Kernel> = Kernel::all().into_iter().filter(|k| k.has_subgroup_twin()).collect();
    assert_eq!(twins.len(), 10 * GgmlType::ALL.len() + 17, "10 matvec kernels per encoding, 17 reducing kernels");
    for kernel in [twins[0], twins[twins.len() - 1]] {
        assert!(tint_errors(&device, &kernel.source_for(browser)).await.is_empty(), "{}", kernel.name());
        let without = kernel_source_without_directive(kernel, browser);
        assert!(!tint_errors(&device, &without).await.is_empty(), "Tint takes {} without the directive", kernel.name());
    }
}

/// The browser's source of `kernel` with its leading `enable subgroups;` taken out.
fn kernel_source_without_directive(kernel: archrace_gpu::Kernel, target: archrace_gpu::ShaderTarget) -> String {
    let source = kernel.source_for(target);
    source.strip_prefix("enable subgroups;").expect("the browser's subgroup source enables them first").to_string()
}

/// The error messages Tint gives for a WGSL module on `device` (a `GPUDevice`).
async fn tint_errors(device: &js_sys::wasm_bindgen::JsValue, code: &str) -> Vec<String> {
    let descriptor = js_sys::Object::new();
    js_sys::Reflect::set(&descriptor, &"code".into(), &code.into()).unwrap();
    let module = call(device, "createShaderModule", &[descriptor.into()]);
    let info = wait(call(&module, "getCompilationInfo", &[])).await;
    js_sys::Array::from(&get(&info, "messages"))
        .iter()
        .filter(|m| get(m, "type").as_string().as_deref() == Some("error"))
        .map(|m| {
            format!(
                "line {}: {}",
                get(&m, "lineNum").as_f64().unwrap_or(0.0),
                get(&m, "message").as_string().unwrap_or_default()
            )
        })
        .collect()
}

/// `object[key]`.
fn get(object: &js_sys::wasm_bindgen::JsValue, key: &str) -> js_sys::wasm_bindgen::JsValue {
    js_sys::Reflect::get(object, &key.into()).unwrap_or_else(|_| panic!("no {key}"))
}

/// `object[method](...args)`.
fn call(
    object: &js_sys::wasm_bindgen::JsValue,
    method: &str,
    args: &[js_sys::wasm_bindgen::JsValue],
) -> js_sys::wasm_bindgen::JsValue {
    use js_sys::wasm_bindgen::JsCast;
    let f: js_sys::Function = get(object, method).unchecked_into();
    f.apply(object, &args.iter().cloned().collect::<js_sys::Array>()).unwrap_or_else(|e| panic!("{method}: {e:?}"))
}

/// Awaits a JS promise.
async fn wait(promise: js_sys::wasm_bindgen::JsValue) -> js_sys::wasm_bindgen::JsValue {
    use js_sys::wasm_bindgen::JsCast;
    wasm_bindgen_futures::JsFuture::from(promise.unchecked_into::<js_sys::Promise>())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
}
