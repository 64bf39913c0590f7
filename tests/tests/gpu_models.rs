//! Whole models on the GPU (lavapipe in CI) against llama.cpp's goldens and the CPU reference: logits of
//! every prompt position, decoded one token per step, within 1e-4 of the row's max |logit|; greedy
//! decoding sampled on the GPU reproduces the golden trace exactly.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{fixture, ids, json, rel_err, QUANTS};

use archrace_cpu::CpuModel;
use archrace_gguf::Gguf;
use archrace_gpu::{GpuError, GpuModel, PrefillLogits, StepOutput};
use archrace_model::KvType;
use archrace_model::ModelWeights;
use archrace_tests::gpu::{context_or_skip, tunings_or_skip};

/// `g` with the tensors `convert` picks by name (F32 ones) stored as F16.
fn f16_copy(g: &Gguf<'_>, convert: impl Fn(&str) -> bool) -> Vec<u8> {
    archrace_gguf::GgufWriter::copy_of(g, |t, data| {
        convert(&t.name).then(|| {
            let f: &[f32] = bytemuck::cast_slice(data);
            let h: Vec<u8> = f.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
            (t.dims.clone(), archrace_gguf::GgmlType::F16, h)
        })
    })
    .to_bytes()
}

/// Five decode steps of `gpu` from a fresh state with an f32 cache (as the CPU keeps it) give the CPU's
/// logits within 1e-4 (`what` names the run in a failure); the dispatches of its step.
fn five_steps_match_the_cpu(ctx: &archrace_gpu::GpuContext, cpu: &CpuModel, gpu: &GpuModel, what: &str) -> usize {
    let mut state = gpu.new_state(ctx).unwrap();
    state.kv_type = KvType::F32;
    let mut cpu_state = cpu.new_state();
    for (pos, tok) in [1u32, 40, 7, 99, 3].into_iter().enumerate() {
        let want = cpu.forward(&mut cpu_state, &[tok]).unwrap();
        let got = pollster::block_on(gpu.logits(ctx, &mut state, tok)).unwrap();
        let err = rel_err(&got, &want);
        assert!(err <= 1e-4, "{what}: dispatches {}, position {pos}: {err:.2e}", gpu.step_dispatches(&state));
    }
    gpu.step_dispatches(&state)
}

/// Every quant of `arch` step by step against llama.cpp's logits and the CPU's, with this adapter's tuning
/// and, on a software adapter, a GPU's too (fused norms, `attn_partial`, a GPU's threads per row).
fn check_logits(arch: &str) {
    for (tuning, ctx) in pollster::block_on(tunings_or_skip(&format!("{arch} GPU logits"))) {
        for q in QUANTS {
            check_quant_logits(&ctx, &format!("{arch}-{q}.gguf ({tuning})"), &format!("{arch}-{q}"));
        }
    }
}

fn check_quant_logits(ctx: &archrace_gpu::GpuContext, file: &str, stem: &str) {
    let bytes = fixture(&format!("{stem}.gguf"));
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(ctx, &cpu.spec, &cpu.weights)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let golden = json(&format!("{stem}.logits.json"));
    let tokens = ids(&golden["tokens"]);
    let mut state = gpu.new_state(ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
    let mut cpu_state = cpu.new_state();
    let (mut worst_golden, mut worst_cpu) = (0f32, 0f32);
    for (pos, (&tok, row)) in tokens.iter().zip(golden["logits"].as_array().unwrap()).enumerate() {
        let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let got = pollster::block_on(gpu.logits(ctx, &mut state, tok)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let reference = cpu.forward(&mut cpu_state, &[tok]).unwrap();
        let err = rel_err(&got, &want);
        assert!(err <= 1e-4, "{file} position {pos}: GPU vs llama.cpp relative error {err:.2e} > 1e-4");
        let err_cpu = rel_err(&got, &reference);
        assert!(err_cpu <= 1e-4, "{file} position {pos}: GPU vs CPU relative error {err_cpu:.2e} > 1e-4");
        worst_golden = worst_golden.max(err);
        worst_cpu = worst_cpu.max(err_cpu);
    }
    assert_eq!(state.pos, tokens.len());
    let mem = gpu.memory(&state);
    eprintln!("{file} on GPU: worst relative error vs llama.cpp {worst_golden:.2e}, vs CPU {worst_cpu:.2e}; {mem:?}");
}

fn check_greedy(arch: &str) {
    let Some(ctx) = pollster::block_on(context_or_skip(&format!("{arch} GPU greedy"))) else { return };
    let file = format!("{arch}-f32.gguf");
    let bytes = fixture(&file);
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let trace = json(&format!("{arch}-f32.greedy.json"));
    let prompt = ids(&trace["tokens"]);
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
    for &t in &prompt[..prompt.len() - 1] {
        pollster::block_on(gpu.step(&ctx, &mut state, Some(t), StepOutput::Nothing)).unwrap();
    }
    let mut next = pollster::block_on(gpu.greedy(&ctx, &mut state, Some(prompt[prompt.len() - 1]))).unwrap();
    let mut generated = vec![next];
    while generated.len() < trace["n_generate"].as_u64().unwrap() as usize {
        // The sampled token stays on the GPU and feeds the next step; only its id is read back.
        next = pollster::block_on(gpu.greedy(&ctx, &mut state, None)).unwrap();
        generated.push(next);
    }
    assert_eq!(generated, ids(&trace["generated"]), "{file} GPU greedy trace");
}

#[test]
fn llama_on_gpu_matches_llama_cpp() {
    check_logits("llama");
    check_greedy("llama");
}

#[test]
fn mamba_on_gpu_matches_llama_cpp() {
    check_logits("mamba");
    check_greedy("mamba");
}

#[test]
fn jamba_on_gpu_matches_llama_cpp() {
    check_logits("jamba");
    check_greedy("jamba");
}

#[test]
fn rwkv6_on_gpu_matches_llama_cpp() {
    check_logits("rwkv6");
    check_greedy("rwkv6");
}

#[test]
fn rwkv7_on_gpu_matches_llama_cpp() {
    check_logits("rwkv7");
    check_greedy("rwkv7");
}

#[test]
fn gpu_refuses_tokens_outside_the_vocabulary() {
    let Some(ctx) = pollster::block_on(context_or_skip("gpu token range")) else { return };
    let bytes = fixture("llama-q8_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let spec = archrace_model::ModelSpec::from_gguf(&g).unwrap();
    let w = ModelWeights::from_gguf(&g, &spec).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &spec, &w)).unwrap();
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
    let err = pollster::block_on(gpu.logits(&ctx, &mut state, 262)).unwrap_err();
    assert!(matches!(err, GpuError::Model(_)), "{err}");
    assert_eq!(state.pos, 0);
}

/// Past the first KV chunk (256 tokens, where the cache moves to a larger buffer) and past one attention
/// chunk (256 keys, where the partials are merged), the GPU still matches the CPU.
#[test]
fn long_context_grows_the_cache_and_splits_attention() {
    let Some(ctx) = pollster::block_on(context_or_skip("gpu long context")) else { return };
    let bytes = fixture("jamba-q8_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let mut rng = archrace_cpu::SplitMix64::new(7);
    let tokens: Vec<u32> = (0..600).map(|_| (rng.next_u64() % 262) as u32).collect();
    let mut cpu_state = cpu.new_state();
    let reference = cpu.forward(&mut cpu_state, &tokens).unwrap();
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
    let checks = [0usize, 255, 256, 257, 511, 512, 599];
    // Between the checked positions the context is filled with `feed` (one error-scope check per batch).
    let mut from = 0;
    for &pos in &checks {
        pollster::block_on(gpu.feed(&ctx, &mut state, &tokens[from..pos])).unwrap();
        assert_eq!(state.pos, pos);
        let got = pollster::block_on(gpu.logits(&ctx, &mut state, tokens[pos])).unwrap();
        let want = &reference[pos * 262..(pos + 1) * 262];
        let err = rel_err(&got, want);
        assert!(err <= 1e-4, "position {pos}: GPU vs CPU relative error {err:.2e}");
        from = pos + 1;
    }
    // One attention layer (2 KV heads x 16 dims, f32 keys and values): 256 bytes per token, 768 tokens held.
    assert_eq!(gpu.memory(&state).kv_cache, 768 * 256);
}

/// A decode step recorded while the one before it runs (`record_ahead`, the default) gives exactly what
/// the same step recorded in its own turn gives: logits, greedy and sampled tokens (with each step's own
/// draw and penalised tokens), outputs that change from step to step (the step recorded ahead is dropped),
/// a prefill between steps, and the KV cache growing (no step is recorded ahead across a growth).
#[test]
fn steps_recorded_ahead_match_steps_recorded_in_turn() {
    let Some(ctx) = pollster::block_on(context_or_skip("steps recorded ahead")) else { return };
    let bytes = fixture("jamba-q8_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let sampling = |i: usize| archrace_gpu::GpuSampling {
        temperature: 0.9,
        top_k: 40,
        top_p: 0.95,
        min_p: 0.0,
        repeat_penalty: 1.3,
        penalized: (0..(i as u32 % 5)).map(|t| t * 7 + i as u32).collect(),
        u: (i as f32 * 0.37).fract(),
    };
    let run = |ahead: bool| {
        let mut state = gpu.new_state(&ctx).unwrap();
        state.work.record_ahead = ahead;
        let mut out: Vec<String> = Vec::new();
        let mut recorded_ahead = 0;
        let mut note = |state: &archrace_gpu::GpuState, what: String| {
            recorded_ahead += usize::from(state.work.next.is_some());
            out.push(what);
        };
        let bits = |l: Vec<f32>| l.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for t in [3u32, 9, 27, 81, 1] {
            let l = pollster::block_on(gpu.logits(&ctx, &mut state, t)).unwrap();
            note(&state, format!("logits {:?}", bits(l)));
        }
        let mut token = 5u32;
        for i in 0..6 {
            // Some steps write their token, the others run on the one the step before chose on the GPU.
            let give = (i % 2 == 0).then_some(token);
            token = pollster::block_on(gpu.greedy(&ctx, &mut state, give)).unwrap();
            note(&state, format!("greedy {token}"));
        }
        for i in 0..6 {
            let give = (i == 0).then_some(token);
            token = pollster::block_on(gpu.sample(&ctx, &mut state, give, sampling(i))).unwrap();
            note(&state, format!("sample {token}"));
        }
        let l = pollster::block_on(gpu.prefill(&ctx, &mut state, &[token, 4, 2], PrefillLogits::Last)).unwrap();
        note(&state, format!("prefill {:?}", bits(l)));
        // Across the cache's first growth (256 tokens) and on.
        token = 2;
        while state.pos < 300 {
            token = pollster::block_on(gpu.greedy(&ctx, &mut state, Some(token))).unwrap();
            note(&state, format!("greedy at {} {token}", state.pos));
        }
        let l = pollster::block_on(gpu.logits(&ctx, &mut state, token)).unwrap();
        note(&state, format!("logits {:?}", bits(l)));
        (out, recorded_ahead)
    };
    let (ahead, recorded) = run(true);
    let (in_turn, none) = run(false);
    assert_eq!(none, 0, "record_ahead off records nothing ahead");
    // Every step with an output left the next one recorded, but the prefill and the step before growth.
    assert!(recorded >= ahead.len() - 3, "{recorded} of {} steps left the next one recorded", ahead.len());
    for (i, (a, b)) in ahead.iter().zip(&in_turn).enumerate() {
        assert_eq!(a, b, "output {i}");
    }
    assert_eq!(ahead.len(), in_turn.len());
}

#[test]
fn a_kv_budget_stops_the_context_with_the_numbers() {
    let Some(ctx) = pollster::block_on(context_or_skip("gpu kv budget")) else { return };
    let bytes = fixture("llama-q4_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
                                 // llama fixture: 3 layers x 2 (K, V) x 32 values x 4 bytes = 768 bytes per token; 300 tokens fit.
    state.kv_budget = Some(300 * 768);
    for _ in 0..200 {
        pollster::block_on(gpu.step(&ctx, &mut state, Some(1), StepOutput::Nothing)).unwrap();
    }
    pollster::block_on(gpu.feed(&ctx, &mut state, &[1; 100])).unwrap();
    // A batch that would pass the budget stops where it is full.
    let fed = pollster::block_on(gpu.feed(&ctx, &mut state, &[1; 5])).unwrap_err();
    assert!(matches!(fed, GpuError::ContextFull { tokens: 300, .. }), "{fed}");
    let err = pollster::block_on(gpu.step(&ctx, &mut state, Some(1), StepOutput::Logits)).unwrap_err();
    match &err {
        GpuError::ContextFull { tokens, reason } => {
            assert_eq!(*tokens, 300);
            assert!(reason.contains("budget") && reason.contains("768 bytes per token"), "{reason}");
        }
        other => panic!("expected ContextFull, got {other}"),
    }
    assert_eq!(state.pos, 300, "the refused step leaves the state as it was");
    // The cache is what the 300 tokens need, not a preallocated maximum context.
    assert_eq!(gpu.memory(&state).kv_cache, 300 * 768);
}

/// On a device that binds at most 12 KiB per buffer (a cap standing in for a small device's limit), the
/// embedding table, the output matrix and the MoE experts are split over several buffers, each dispatched
/// on its own, and the logits are unchanged; the KV cache stops at what one binding holds, with the
/// numbers; a tensor whose single row (or expert) does not fit is a typed error.
#[test]
fn tensors_larger_than_a_binding_are_split() {
    let Some(mut ctx) = pollster::block_on(context_or_skip("tensor splitting")) else { return };
    ctx.binding_cap = Some(12 * 1024);
    for arch in ["llama", "jamba"] {
        let file = format!("{arch}-q8_0.gguf");
        let bytes = fixture(&file);
        let g = Gguf::parse(&bytes).unwrap();
        let cpu = CpuModel::from_gguf(&g).unwrap();
        let gpu =
            pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(gpu.weights.token_embd.parts.len() > 1, "{file}: the embedding is split");
        if arch == "jamba" {
            let moe = gpu.weights.layers.iter().find_map(|l| match &l.ffn {
                archrace_gpu::runtime::weights::GpuFfn::Moe { gate, .. } => Some(gate.parts.len()),
                _ => None,
            });
            assert!(moe.unwrap() > 1, "the experts are split");
        }
        let golden = json(&format!("{arch}-q8_0.logits.json"));
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
        for (pos, (tok, row)) in
            ids(&golden["tokens"]).into_iter().zip(golden["logits"].as_array().unwrap()).enumerate()
        {
            let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let got = pollster::block_on(gpu.logits(&ctx, &mut state, tok)).unwrap();
            let err = rel_err(&got, &want);
            assert!(err <= 1e-4, "{file} split, position {pos}: {err:.2e}");
        }
        if arch == "llama" {
            // 2 KV heads x 16 dims x 4 bytes = 128 bytes per token per buffer: 96 tokens fit in 12 KiB.
            for _ in 16..96 {
                pollster::block_on(gpu.step(&ctx, &mut state, Some(1), StepOutput::Nothing)).unwrap();
            }
            let err = pollster::block_on(gpu.step(&ctx, &mut state, Some(1), StepOutput::Nothing)).unwrap_err();
            assert!(matches!(&err, GpuError::ContextFull { tokens: 96, reason } if reason.contains("12288")), "{err}");
        }
    }
    ctx.binding_cap = Some(200);
    let bytes = fixture("llama-f32.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let err =
        pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).err().expect("a 256-byte row cannot fit");
    assert!(matches!(err, GpuError::TooLarge { .. }), "{err}");
}

/// A lost device (here destroyed on purpose) is a typed error on the next step, not a panic or a hang,
/// and the CPU reference still runs the same model.
#[test]
fn a_lost_device_is_a_typed_error_and_the_cpu_path_still_works() {
    let Some(ctx) = pollster::block_on(context_or_skip("device lost")) else { return };
    let bytes = fixture("mamba-q8_0.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32; // as llama.cpp's goldens (f32 K and V)
    pollster::block_on(gpu.logits(&ctx, &mut state, 1)).unwrap();
    ctx.device.destroy();
    let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
    let err = pollster::block_on(gpu.logits(&ctx, &mut state, 2)).unwrap_err();
    assert!(matches!(err, GpuError::DeviceLost(_)), "{err}");
    let mut cpu_state = cpu.new_state();
    assert_eq!(cpu.forward(&mut cpu_state, &[1, 2]).unwrap().len(), 2 * 262);
}

/// A Mamba with a conv kernel of 1 (no past inputs kept, an edge the metadata allows): the CPU reference
/// used to panic on it while the GPU ran it. Both now run it, agree, and match the model it equals: the
/// fixture with every conv tap but the newest set to zero.
#[test]
fn a_mamba_conv_kernel_of_one_runs_alike_on_cpu_and_gpu() {
    use archrace_gguf::{GgmlType, GgufWriter, Value};
    let Some(ctx) = pollster::block_on(context_or_skip("mamba conv kernel 1")) else { return };
    let bytes = fixture("mamba-f32.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    // `k1`: conv_kernel 1, conv1d (1, Di) = the last tap. `zeroed`: conv_kernel 4, other taps 0.
    let (mut k1, mut zeroed) = (GgufWriter::new(), GgufWriter::new());
    for (k, v) in &g.metadata {
        let one = if k == "mamba.ssm.conv_kernel" { Value::U32(1) } else { v.clone() };
        k1.metadata(k, one);
        zeroed.metadata(k, v.clone());
    }
    for t in &g.tensors {
        let data = g.tensor_data(t);
        if t.name.ends_with("ssm_conv1d.weight") {
            let taps = t.dims[0] as usize;
            let w: &[f32] = bytemuck::cast_slice(data);
            let last: Vec<f32> = w.chunks(taps).map(|row| row[taps - 1]).collect();
            k1.tensor_f32(&t.name, &[1, t.dims[1]], &last);
            let z: Vec<f32> =
                w.chunks(taps).flat_map(|row| (0..taps).map(|j| if j + 1 == taps { row[j] } else { 0.0 })).collect();
            zeroed.tensor_f32(&t.name, &t.dims, &z);
        } else {
            k1.tensor(&t.name, &t.dims, t.ty, data.to_vec());
            zeroed.tensor(&t.name, &t.dims, t.ty, data.to_vec());
        }
        assert!(t.ty == GgmlType::F32 || !t.name.ends_with("ssm_conv1d.weight"));
    }
    let (k1, zeroed) = (k1.to_bytes(), zeroed.to_bytes());
    let (gk, gz) = (Gguf::parse(&k1).unwrap(), Gguf::parse(&zeroed).unwrap());
    let (cpu, reference) = (CpuModel::from_gguf(&gk).unwrap(), CpuModel::from_gguf(&gz).unwrap());
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let mut state = gpu.new_state(&ctx).unwrap();
    let (mut cpu_state, mut ref_state) = (cpu.new_state(), reference.new_state());
    for (pos, tok) in [1u32, 40, 7, 99, 3, 250].into_iter().enumerate() {
        let want = reference.forward(&mut ref_state, &[tok]).unwrap();
        let got_cpu = cpu.forward(&mut cpu_state, &[tok]).unwrap();
        let got_gpu = pollster::block_on(gpu.logits(&ctx, &mut state, tok)).unwrap();
        let (e_cpu, e_gpu) = (rel_err(&got_cpu, &want), rel_err(&got_gpu, &want));
        assert!(e_cpu <= 1e-5 && e_gpu <= 1e-4, "position {pos}: CPU {e_cpu:.2e}, GPU {e_gpu:.2e}");
    }
}

/// A device memory budget stands in for a GPU that runs out: a model whose weights do not fit fails to
/// load with `OutOfMemory` (and gives back what it took), and a KV cache that cannot grow fails the step
/// with `OutOfMemory` while the tokens already held stay valid.
#[test]
fn a_memory_budget_fails_the_upload_and_the_cache_growth_with_out_of_memory() {
    let Some(mut ctx) = pollster::block_on(context_or_skip("gpu memory budget")) else { return };
    let bytes = fixture("llama-f32.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let cpu = CpuModel::from_gguf(&g).unwrap();
    assert_eq!(ctx.allocated(), 0);
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let weights = ctx.allocated();
    assert_eq!(weights, gpu.memory(&gpu.new_state(&ctx).unwrap()).weights);
    drop(gpu);
    assert_eq!(ctx.allocated(), 0, "a dropped model gives its bytes back");

    ctx.memory_budget = Some(weights / 2);
    match pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)) {
        Err(GpuError::OutOfMemory(why)) => assert!(why.contains("device memory budget"), "{why}"),
        other => panic!("expected OutOfMemory, got {:?}", other.err()),
    }
    assert_eq!(ctx.allocated(), 0, "a refused upload gives back what it took");

    ctx.memory_budget = None;
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let mut state = gpu.new_state(&ctx).unwrap();
    state.kv_type = KvType::F32;
    let tokens: Vec<u32> = (0..600).map(|i| (i * 7 % 262) as u32).collect();
    pollster::block_on(gpu.feed(&ctx, &mut state, &tokens[..100])).unwrap();
    ctx.memory_budget = Some(ctx.allocated() + 4096);
    let mut fed = 100;
    let err = loop {
        match pollster::block_on(gpu.feed(&ctx, &mut state, &tokens[fed..fed + 50])) {
            Ok(_) => fed += 50,
            Err(e) => break e,
        }
        assert!(fed < 600, "the cache grew past the budget without an error");
    };
    assert!(matches!(err, GpuError::OutOfMemory(ref why) if why.contains("budget")), "{err}");
    // The tokens before the one that needed the larger cache are kept (a chunk is fed up to its failure).
    let held = state.pos;
    assert!((fed..fed + 50).contains(&held), "{held} tokens held after feeding {fed} and failing");
    // Those tokens are still right: the next logits match the CPU's after the same prefix.
    ctx.memory_budget = None;
    let got = pollster::block_on(gpu.logits(&ctx, &mut state, tokens[held])).unwrap();
    let mut cpu_state = cpu.new_state();
    let all = cpu.forward(&mut cpu_state, &tokens[..=held]).unwrap();
    let err = rel_err(&got, &all[held * cpu.spec.n_vocab..]);
    assert!(err <= 1e-4, "after the refused growth: relative error {err:.2e}");
}

/// Pipelines are cached per device: a second model on the device compiles only the kernels no model
/// before it needed, and every model still decodes right.
#[test]
fn models_on_one_device_share_its_compiled_pipelines() {
    let Some(ctx) = pollster::block_on(context_or_skip("pipeline cache")) else { return };
    // The model, and the CPU's logits for token 3 at position 0.
    let load = |file: &str| {
        let bytes = fixture(file);
        let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        (gpu, cpu.forward(&mut cpu.new_state(), &[3]).unwrap())
    };
    assert_eq!(ctx.pipelines.compiled(), 0);
    let llama = load("llama-q8_0.gguf");
    let first = ctx.pipelines.compiled();
    assert!(first > 10, "a model compiles its kernels ({first})");
    let llama_again = load("llama-q8_0.gguf");
    assert_eq!(ctx.pipelines.compiled(), first, "a second llama compiles nothing");
    let mamba = load("mamba-q8_0.gguf");
    // Its f32 x and dt projections (matvec_f32, matmul_f32) and its Q8_0 in-projection with the conv step
    // (matvec_conv_q8_0, and its normed twin matvec_conv_norm_q8_0) are all it adds.
    assert_eq!(ctx.pipelines.compiled(), first + 4, "the Mamba model compiles only the kernels it adds");
    let _f32_llama = load("llama-f32.gguf");
    assert_eq!(
        ctx.pipelines.compiled(),
        first + 11,
        "an f32 llama adds only embed_f32, matvec_swiglu_f32, matvec_rope_f32, matmul_swiglu_f32 and the normed twins \
         matvec_norm_f32, matvec_swiglu_norm_f32 and matvec_rope_norm_f32"
    );
    for (gpu, want) in [&llama, &llama_again, &mamba] {
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = KvType::F32; // as the CPU keeps it
        let got = pollster::block_on(gpu.logits(&ctx, &mut state, 3)).unwrap();
        assert!(rel_err(&got, want) <= 1e-4, "{}: {:.2e}", gpu.spec.name, rel_err(&got, want));
    }
}

/// The CPU state, the GPU state and the calculator size a sequence's state from one `StateSpec`: after 20
/// tokens of each architecture the CPU holds exactly its figures, and the GPU its recurrent bytes and a
/// KV cache of at least 20 tokens at the cache type's bytes per token.
#[test]
fn cpu_gpu_and_calculator_agree_on_the_state() {
    use archrace_cpu::model::state::LayerState as CpuLayer;
    use archrace_model::{calc, StateSpec};
    let Some(ctx) = pollster::block_on(context_or_skip("state sizes")) else { return };
    for arch in ["llama", "mamba", "jamba", "rwkv6", "rwkv7"] {
        let bytes = fixture(&format!("{arch}-q8_0.gguf"));
        let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let spec = StateSpec::new(&cpu.spec);
        let tokens: Vec<u32> = (0..20).map(|i| (i * 5 % 200) as u32).collect();
        let mut cpu_state = cpu.new_state();
        cpu.forward(&mut cpu_state, &tokens).unwrap();
        let (mut kv, mut fixed) = (0usize, 0usize);
        for l in &cpu_state.layers {
            match l {
                CpuLayer::Kv { k, v } => kv += k.len() + v.len(),
                CpuLayer::Mamba { conv, ssm } => fixed += conv.len() + ssm.len(),
                CpuLayer::Rwkv { att_shift, ffn_shift, wkv } => fixed += att_shift.len() + ffn_shift.len() + wkv.len(),
            }
        }
        assert_eq!(kv as u64, 20 * spec.kv_values_per_token(), "{arch}: CPU KV values");
        assert_eq!(4 * fixed as u128, spec.fixed_bytes(), "{arch}: CPU recurrent state");
        assert_eq!(calc::state_bytes(&cpu.spec) as u128, spec.fixed_bytes(), "{arch}: calculator state");
        assert_eq!(calc::kv_bytes_per_token(&cpu.spec, KvType::F16), spec.kv_bytes_per_token(KvType::F16));

        let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        let mut state = gpu.new_state(&ctx).unwrap();
        pollster::block_on(gpu.feed(&ctx, &mut state, &tokens)).unwrap();
        let mem = gpu.memory(&state);
        assert_eq!(mem.state as u128, spec.fixed_bytes(), "{arch}: GPU recurrent state");
        let kv_used = 20 * spec.kv_bytes_per_token(state.kv_type);
        assert!(mem.kv_cache >= kv_used, "{arch}: GPU KV cache {} < {kv_used} used", mem.kv_cache);
        assert_eq!(state.state_spec, spec, "{arch}: the GPU state's spec");

        // The scratch, explained by buffer: the parts this architecture has hold more than the 16-byte
        // placeholder of a part it lacks, and the buffers sum to the scratch figure.
        let buffers = gpu.scratch_buffers(&state);
        assert_eq!(buffers.iter().map(|(_, b)| b).sum::<u64>(), mem.scratch, "{arch}: {buffers:?}");
        let uses = |part: &str| buffers.iter().any(|(label, b)| label.starts_with(part) && *b > 16);
        let parts: Vec<&str> = ["attention:", "mamba:", "rwkv:", "moe:"].into_iter().filter(|p| uses(p)).collect();
        let expected: &[&str] = match arch {
            "llama" => &["attention:"],
            "mamba" => &["mamba:"],
            "jamba" => &["attention:", "mamba:", "moe:"],
            _ => &["rwkv:"],
        };
        assert_eq!(parts, expected, "{arch}: {buffers:?}");
        assert!(uses("step: logits"), "{arch}: every model has logits");
    }
}

/// Tensors the fused decode kernels cannot read (here converted to f16, as a converter may store them)
/// take the kernel-by-kernel path: an f32 dt projection is read by `mamba_scan_dt` (with Jamba's dt/B/C
/// norms), an f32 router by `moe_norm_route` (with the feed-forward's norm), and RWKV-7's LoRA
/// down-projections by one `matvec_multi` only when they share an encoding. Both ways match the CPU on
/// the same file. The f16 file costs one dispatch more per Mamba layer (its dt product), two more per
/// Jamba Mamba layer (the norms too), two more per MoE feed-forward (its norm and router product), and
/// per RWKV-7 layer the unfused time-mix's 16 (the first layer) or 18 dispatches instead of 6.
#[test]
fn fused_decode_kernels_or_not_match_the_cpu() {
    use archrace_model::{Ffn, Mixer};
    let Some(ctx) = pollster::block_on(context_or_skip("fused dt projection and router")) else { return };
    let files = [
        ("mamba-f32.gguf", &["ssm_dt.weight"][..]),
        ("jamba-f32.gguf", &["ssm_dt.weight", "ffn_gate_inp.weight"]),
        ("rwkv7-f32.gguf", &["time_mix_w1.weight"]),
    ];
    for (name, tensors) in files {
        let bytes = fixture(name);
        let g = Gguf::parse(&bytes).unwrap();
        let f16_bytes = f16_copy(&g, |n| tensors.iter().any(|s| n.ends_with(s)));
        let mut dispatches = Vec::new();
        for file in [&bytes, &f16_bytes] {
            let cpu = CpuModel::from_gguf(&Gguf::parse(file).unwrap()).unwrap();
            let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
            dispatches.push(five_steps_match_the_cpu(&ctx, &cpu, &gpu, name));
        }
        let spec = archrace_model::ModelSpec::from_gguf(&g).unwrap();
        let more: usize = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mixer = match &l.mixer {
                    Mixer::Mamba(m) if m.dt_b_c_rms => 2,
                    Mixer::Mamba(_) => 1,
                    // token shift, r, w1, w2, k, v, the value residual (3; the first layer's copy, 1), g1,
                    // g2, a1, a2, prep, wkv7, bonus, group norm, output; fused: 6.
                    Mixer::Rwkv(_) if i == 0 => 16 - 6,
                    Mixer::Rwkv(_) => 18 - 6,
                    _ => 0,
                };
                mixer + if matches!(l.ffn, Ffn::Moe { .. }) { 2 } else { 0 }
            })
            .sum();
        assert_eq!(dispatches[1], dispatches[0] + more, "{name}: dispatches of the f32 and the f16 file");
    }
}

/// The normed matvec twins (each norm computed by the product after it) and the norms in dispatches of
/// their own give the same logits as the CPU, for llama (q/k/v, gate/up and the output head take their
/// norms), Mamba (the in-projection) and Jamba (all three, and its MoE layers' router), in three encodings,
/// over several greedy steps; the twins save exactly one dispatch per norm they take. The default on a
/// software adapter (here) keeps the norms apart; GPUs take the twins.
#[test]
fn normed_twins_and_norms_apart_match_the_cpu() {
    use archrace_model::{Ffn, Mixer};
    let Some(ctx) = pollster::block_on(context_or_skip("normed matvec twins")) else { return };
    for name in ["llama-q8_0.gguf", "mamba-q8_0.gguf", "jamba-q8_0.gguf", "llama-q4_1.gguf", "jamba-q4_0.gguf"] {
        let bytes = fixture(name);
        let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let mut gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        assert_eq!(gpu.fused_norms(), !ctx.software_tuning(), "{name}: the default follows the adapter");
        let mut dispatches = Vec::new();
        for fused in [true, false] {
            gpu.set_fused_norms(fused);
            dispatches.push(five_steps_match_the_cpu(&ctx, &cpu, &gpu, &format!("{name}, norms fused {fused}")));
        }
        let taken = 1 + cpu
            .spec
            .layers
            .iter()
            .map(|l| {
                let mixer = usize::from(matches!(l.mixer, Mixer::Attention(_) | Mixer::Mamba(_)));
                mixer + usize::from(matches!(l.ffn, Ffn::Dense { .. }))
            })
            .sum::<usize>();
        assert_eq!(dispatches[1], dispatches[0] + taken, "{name}: dispatches with the norms apart and fused");
    }
}

/// Every architecture gives the CPU's logits with the matvecs' threads per row group a GPU takes (up to
/// 64) and a software adapter takes (up to `SOFTWARE_ROW_THREADS`), whichever adapter runs the tests:
/// the whole models' products, row sums and epilogues (RWKV's `matvec_multi`, MoE's routed sums) both ways.
#[test]
fn gpu_and_software_threads_per_row_match_the_cpu() {
    use archrace_gpu::kernels::matvec::{MatvecLimits, SOFTWARE_ROW_THREADS, WORKGROUP};
    let Some(ctx) = pollster::block_on(context_or_skip("threads per row")) else { return };
    // F32 rows of 64 values are 16 kernel blocks (16 threads a row on a GPU, against 2); quantized ones
    // would be 2 blocks, the same both ways.
    for arch in ["llama", "mamba", "rwkv6", "rwkv7", "jamba"] {
        let name = format!("{arch}-f32.gguf");
        let bytes = fixture(&name);
        let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let mut gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        assert_eq!(
            gpu.max_row_threads(),
            MatvecLimits::of(&ctx).max_row_threads,
            "{name}: the default follows the adapter"
        );
        let mut dispatches = Vec::new();
        for rt in [WORKGROUP, SOFTWARE_ROW_THREADS] {
            gpu.set_max_row_threads(rt);
            assert_eq!(gpu.max_row_threads(), rt);
            dispatches.push(five_steps_match_the_cpu(&ctx, &cpu, &gpu, &format!("{name}, up to {rt} threads a row")));
        }
        assert_eq!(dispatches[0], dispatches[1], "{name}: the same dispatches, sized differently");
    }
}

/// A software adapter's attention decode twin (`attn_partial_runs`: a run of subgroup lanes per key, the
/// default there for an f16 cache) and `attn_partial` (a thread per key, GPUs' kernel) give the same
/// logits and greedy tokens, for llama (3 attention layers) and Jamba (one), over an f16 cache filled by
/// prefill, at positions from one chunk of keys to several (past 256); each way's steps dispatch its own
/// kernel.
#[test]
fn software_and_gpu_attention_decode_agree() {
    let Some(ctx) = pollster::block_on(context_or_skip("attention runs")) else { return };
    let runs_here = ctx.software_tuning() && ctx.shader_target().subgroups();
    for name in ["llama-q8_0.gguf", "jamba-q8_0.gguf"] {
        let bytes = fixture(name);
        let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let mut gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        assert_eq!(gpu.attention_runs(), runs_here, "{name}: the default follows the adapter");
        let mut rng = archrace_cpu::SplitMix64::new(11);
        let tokens: Vec<u32> = (0..262).map(|_| (rng.next_u64() % cpu.spec.n_vocab as u64) as u32).collect();
        let mut ways = Vec::new();
        for runs in [true, false] {
            gpu.set_attention_runs(runs);
            assert_eq!(gpu.attention_runs(), runs && runs_here, "{name}: runs where the adapter has them");
            let mut state = gpu.new_state(&ctx).unwrap();
            assert_eq!(state.kv_type, KvType::F16, "the default cache");
            pollster::block_on(gpu.prefill(&ctx, &mut state, &tokens[..250], PrefillLogits::None)).unwrap();
            let mut logits = Vec::new();
            for &token in &tokens[250..] {
                state.work.profile = true;
                logits.push(pollster::block_on(gpu.logits(&ctx, &mut state, token)).unwrap());
                let profile = state.work.last_profile.take().expect("a profiled step");
                let names: Vec<&str> = profile.kernels.iter().map(|k| k.kernel.as_str()).collect();
                if !names.is_empty() {
                    let took_runs = names.iter().any(|n| n.starts_with("attn_partial_runs_"));
                    assert_eq!(took_runs, gpu.attention_runs(), "{name}: the step's kernels {names:?}");
                    assert_eq!(names.contains(&"attn_partial"), !gpu.attention_runs(), "{name}: {names:?}");
                }
            }
            ways.push(logits);
        }
        for (pos, (a, b)) in ways[0].iter().zip(&ways[1]).enumerate() {
            let err = rel_err(a, b);
            assert!(err <= 1e-5, "{name}: position {}: runs against attn_partial, relative error {err:.2e}", 250 + pos);
            let argmax = archrace_model::sample::argmax;
            assert_eq!(argmax(a), argmax(b), "{name}: position {}: greedy", 250 + pos);
        }
    }
}

/// Attention heads wider than the decode kernel holds (`MAX_DECODE_HEAD_DIM`, half for an odd width)
/// are refused with a typed error naming the layer, before anything is uploaded.
#[test]
fn heads_too_wide_for_the_decode_kernel_are_a_typed_error() {
    use archrace_gpu::MAX_DECODE_HEAD_DIM;
    use archrace_model::Mixer;
    let Some(ctx) = pollster::block_on(context_or_skip("wide heads")) else { return };
    let bytes = fixture("llama-f32.gguf");
    let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    for (width, refused) in
        [(MAX_DECODE_HEAD_DIM + 2, true), (MAX_DECODE_HEAD_DIM / 2 + 1, true), (MAX_DECODE_HEAD_DIM / 2 - 1, false)]
    {
        let mut spec = cpu.spec.clone();
        if let Mixer::Attention(a) = &mut spec.layers[1].mixer {
            a.head_dim = width;
        }
        match pollster::block_on(GpuModel::new(&ctx, &spec, &cpu.weights)) {
            Err(GpuError::Unsupported(m)) if m.contains("decode kernel") => {
                assert!(refused && m.contains("layer 1") && m.contains(&width.to_string()), "{width}: {m}")
            }
            // A width the kernel takes gets past the check (whatever the weights, made for another
            // width, make of it next).
            _ => assert!(!refused, "{width} was not refused"),
        }
    }
}

/// Weights the load-time checks let through (finite, but so large that the activations overflow f32: the
/// output norm scaled by 1e38) end a step with a typed error naming the position, on the CPU and on the
/// GPU, whether the step returns logits, a greedy token or a sampled one, or prefills; never a token drawn
/// from NaN logits.
#[test]
fn overflowing_activations_give_a_typed_error_not_a_token() {
    use archrace_gguf::{GgmlType, GgufWriter};
    use archrace_gpu::GpuSampling;
    use archrace_model::ModelError;
    let Some(ctx) = pollster::block_on(context_or_skip("non-finite logits")) else { return };
    let original = fixture("llama-f32.gguf");
    let g = Gguf::parse(&original).unwrap();
    let bytes = GgufWriter::copy_of(&g, |t, data| {
        (t.name == "output_norm.weight").then(|| {
            let w: Vec<f32> = bytemuck::cast_slice::<u8, f32>(data).iter().map(|v| v * 1e38).collect();
            (t.dims.clone(), GgmlType::F32, bytemuck::cast_slice(&w).to_vec())
        })
    })
    .to_bytes();
    let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).expect("finite weights load");
    let overflow = |position| ModelError::NonFiniteLogits { position };
    let mut cpu_state = cpu.new_state();
    assert_eq!(cpu.forward(&mut cpu_state, &[1]).unwrap_err(), overflow(0), "CPU");
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let is_overflow = |r: Result<(), GpuError>, position: usize, what: &str| match r {
        Err(GpuError::Model(e)) => assert_eq!(e, overflow(position), "{what}"),
        other => panic!("{what}: {other:?}"),
    };
    let mut state = gpu.new_state(&ctx).unwrap();
    is_overflow(pollster::block_on(gpu.logits(&ctx, &mut state, 1)).map(drop), 0, "GPU logits");
    is_overflow(pollster::block_on(gpu.greedy(&ctx, &mut state, Some(1))).map(drop), 1, "GPU greedy");
    let sampling = GpuSampling {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.95,
        min_p: 0.0,
        repeat_penalty: 1.0,
        penalized: vec![],
        u: 0.5,
    };
    is_overflow(pollster::block_on(gpu.sample(&ctx, &mut state, Some(1), sampling)).map(drop), 2, "GPU sample");
    let prefilled = pollster::block_on(gpu.prefill(&ctx, &mut state, &[1, 2, 3], PrefillLogits::Last));
    is_overflow(prefilled.map(drop), 5, "GPU prefill");
}

/// A llama whose heads have an odd width (7 dims, 6 rotated; 4 query heads to 2 KV heads): no product
/// can take RoPE in pairs of its rows there, so decode keeps `rope_kv`, which pairs dims within each head
/// and writes the odd one out alone. Decode steps and a prefill give the CPU's logits, with f32 and f16
/// caches (the CPU's f32 cache, so f16 within 1e-3).
#[test]
fn odd_head_widths_decode_and_prefill_like_the_cpu() {
    use archrace_cpu::SplitMix64;
    use archrace_gguf::{GgufWriter, Value};
    let Some(ctx) = pollster::block_on(context_or_skip("odd head widths")) else { return };
    let (e, layers, h, hkv, d, ff, vocab) = (28u64, 2, 4u64, 2u64, 7u64, 40u64, 64u64);
    let mut rng = SplitMix64::new(71);
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", Value::String("llama".into()));
    for (key, v) in [
        ("embedding_length", e),
        ("block_count", layers),
        ("attention.head_count", h),
        ("attention.head_count_kv", hkv),
        ("feed_forward_length", ff),
        ("rope.dimension_count", 6),
        ("context_length", 256),
    ] {
        w.metadata(&format!("llama.{key}"), Value::U32(v as u32));
    }
    w.metadata("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5));
    let mut tensor = |w: &mut GgufWriter, name: &str, dims: &[u64], scale: f32| {
        let n = dims.iter().product::<u64>() as usize;
        let values = rng.vec(n, -scale, scale);
        w.tensor_f32(name, dims, &values);
    };
    tensor(&mut w, "token_embd.weight", &[e, vocab], 1.0);
    for l in 0..layers {
        for (name, dims) in [
            ("attn_q", [e, h * d]),
            ("attn_k", [e, hkv * d]),
            ("attn_v", [e, hkv * d]),
            ("attn_output", [h * d, e]),
            ("ffn_gate", [e, ff]),
            ("ffn_up", [e, ff]),
            ("ffn_down", [ff, e]),
        ] {
            tensor(&mut w, &format!("blk.{l}.{name}.weight"), &dims, 0.4);
        }
        for name in ["attn_norm", "ffn_norm"] {
            w.tensor_f32(&format!("blk.{l}.{name}.weight"), &[e], &vec![1.0; e as usize]);
        }
    }
    w.tensor_f32("output_norm.weight", &[e], &vec![1.0; e as usize]);
    tensor(&mut w, "output.weight", &[e, vocab], 0.4);
    let bytes = w.to_bytes();
    let cpu = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    let gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
    let tokens = [5u32, 17, 3, 60, 9, 22, 41, 8, 0, 33, 12, 50];
    let want = cpu.forward(&mut cpu.new_state(), &tokens).unwrap();
    let row = |i: usize| &want[i * vocab as usize..][..vocab as usize];
    for (kv, tol) in [(KvType::F32, 1e-4), (KvType::F16, 1e-3)] {
        let mut state = gpu.new_state(&ctx).unwrap();
        state.kv_type = kv;
        for (pos, &tok) in tokens[..6].iter().enumerate() {
            let got = pollster::block_on(gpu.logits(&ctx, &mut state, tok)).unwrap();
            let err = rel_err(&got, row(pos));
            assert!(err <= tol, "{kv:?} cache, decode position {pos}: {err:.2e}");
        }
        let got = pollster::block_on(gpu.prefill(&ctx, &mut state, &tokens[6..], PrefillLogits::All)).unwrap();
        for (i, got) in got.chunks(vocab as usize).enumerate() {
            let err = rel_err(got, row(6 + i));
            assert!(err <= tol, "{kv:?} cache, prefill position {}: {err:.2e}", 6 + i);
        }
    }
}

/// q, k and v in different encodings (as in llama.cpp's Q4_K_M files, whose v is often Q6_K) cannot be
/// one product, so each takes RoPE and the KV cache append in its own (`matvec_rope` from its first row):
/// the CPU's logits with the norms fused and apart, and exactly two dispatches more per layer than the
/// same model with q, k and v in one buffer (three products instead of one, no `rope_kv` either way).
#[test]
fn q_k_and_v_in_different_encodings_take_rope_in_their_own_products() {
    let Some(ctx) = pollster::block_on(context_or_skip("split q/k/v with RoPE")) else { return };
    let bytes = fixture("llama-f32.gguf");
    let g = Gguf::parse(&bytes).unwrap();
    let split = f16_copy(&g, |n| n.ends_with("attn_v.weight"));
    let mut dispatches = Vec::new();
    for (file, joined) in [(&bytes, true), (&split, false)] {
        let cpu = CpuModel::from_gguf(&Gguf::parse(file).unwrap()).unwrap();
        let mut gpu = pollster::block_on(GpuModel::new(&ctx, &cpu.spec, &cpu.weights)).unwrap();
        let attn = |l: &archrace_gpu::runtime::weights::GpuLayer| match &l.mixer {
            archrace_gpu::runtime::weights::GpuMixer::Attention(a) => a.qkv.is_some(),
            _ => unreachable!("a llama"),
        };
        assert!(gpu.weights.layers.iter().all(|l| attn(l) == joined), "q, k and v joined: {joined}");
        for fused in [true, false] {
            gpu.set_fused_norms(fused);
            let what = format!("joined {joined}, norms fused {fused}");
            dispatches.push(five_steps_match_the_cpu(&ctx, &cpu, &gpu, &what));
        }
    }
    let layers = g.get("llama.block_count").and_then(|v| v.as_u64()).unwrap() as usize;
    assert_eq!(dispatches[2], dispatches[0] + 2 * layers, "fused: three products for one");
    assert_eq!(dispatches[3], dispatches[1] + 2 * layers, "apart: three products for one");
}
