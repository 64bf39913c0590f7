//! Row kernels: the norms, argmax and the sampler.

use crate::common::parity::{bytes, check, run, TIGHT};
use archrace_cpu::ops::norm::{layer_norm, rms_norm};
use archrace_cpu::SplitMix64;
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::Kernel;
use archrace_tests::gpu::{subgroup_twins_or_skip, twins_and_gpu_sizes_or_skip};
use archrace_tests::sampling::{gpu_and_cpu_picks, sampler_configs};

#[test]
fn norm_matches_rms_norm_and_layer_norm() {
    for (twin, ctx) in pollster::block_on(twins_and_gpu_sizes_or_skip("norm parity")) {
        eprintln!("norm parity: {twin}");
        let (n, rows, eps) = (300, 3, 1e-5f32);
        let mut rng = SplitMix64::new(1);
        let (x, w, b) = (rng.vec(n * rows, -3.0, 3.0), rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
        for (kind, want) in [(0, rms_norm(&x, &w, eps)), (1, layer_norm(&x, &w, &b, eps))] {
            let params = [n as u32, rows as u32, 0, 0, kind, eps.to_bits(), n as u32, n as u32];
            let args = [
                (1, Arg::In(bytes(&x))),
                (2, Arg::In(bytes(&w))),
                (3, Arg::In(bytes(&b))),
                (4, Arg::Out(n * rows * 4)),
            ];
            let got = run(&ctx, Kernel::Norm, &params, &args, [rows as u32, 1, 1]);
            check(&format!("norm kind {kind}"), &want, &got[0], TIGHT);
        }
    }
}

#[test]
fn argmax_matches_its_twin_and_breaks_ties_low() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("argmax parity")) {
        eprintln!("argmax parity: {twin}");
        let mut rng = SplitMix64::new(6);
        // Planted maxima (a tie, to the lower index) at threads 44 and 64, then 45 and 65, then the last.
        let cases: [(usize, &[usize]); 5] =
            [(1, &[]), (262, &[]), (49_153, &[300, 40_000]), (49_153, &[301, 40_001]), (1000, &[999])];
        for (n, planted) in cases {
            let mut logits = rng.vec(n, -10.0, 10.0);
            for &at in planted {
                logits[at] = 11.0;
            }
            let want = archrace_model::sample::argmax(&logits);
            let args = [(1, Arg::In(bytes(&logits))), (2, Arg::Out(16))];
            let out = pollster::block_on(run_kernel(&ctx, Kernel::Argmax, &[n as u32, 0], &args, [1, 1, 1])).unwrap();
            assert_eq!(
                u32::from_le_bytes(out[0][..4].try_into().unwrap()),
                want,
                "{twin}: argmax over {n}, {planted:?}"
            );
        }
    }
}

/// The GPU sampler draws what the CPU sampler draws from the same logits, settings and seed: the host
/// passes the CPU stream's one draw per token.
#[test]
fn sample_top_k_matches_the_cpu_sampler() {
    use archrace_model::Sampler;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("sampler parity")) {
        eprintln!("sampler parity: {twin}");
        let mut rng = SplitMix64::new(11);
        let n = 1000;
        let history: Vec<u32> = (0..80).map(|_| (rng.next_u64() % n as u64) as u32).collect();
        for config in sampler_configs() {
            let mut samplers = (Sampler::new(config.clone()), Sampler::new(config.clone()));
            for draw in 0..20 {
                // Peaked logits with ties, so top-p, min-p and the tie order all matter.
                let logits: Vec<f32> = (0..n).map(|_| (rng.uniform(-4.0, 4.0) * 4.0).round() / 4.0).collect();
                let (got, want) = pollster::block_on(gpu_and_cpu_picks(&ctx, &mut samplers, &logits, &history));
                assert_eq!(got, want, "{twin}: {config:?}, draw {draw}");
            }
        }
    }
}

/// The sampler over vocabularies up to the largest a model may have ([`archrace_model::meta::MAX_VOCAB`]),
/// where 64 passes over the logits, one a candidate, took more loop back-edges than lavapipe runs (65,535):
/// distinct logits, and logits whose top value thousands of ids share (the top k are the lowest ids).
#[test]
fn sample_top_k_matches_the_cpu_sampler_over_large_vocabularies() {
    use archrace_model::{Sampler, SamplerConfig};
    let Some((_, ctx)) = pollster::block_on(subgroup_twins_or_skip("large-vocabulary sampler parity")).pop() else {
        return;
    };
    let mut rng = SplitMix64::new(12);
    let config = SamplerConfig { temperature: 1.0, top_k: 64, top_p: 1.0, min_p: 0.0, seed: 5, ..Default::default() };
    let mut samplers = (Sampler::new(config.clone()), Sampler::new(config));
    for n in [300_000, archrace_model::meta::MAX_VOCAB as usize] {
        let distinct = rng.vec(n, -8.0, 8.0);
        let tied: Vec<f32> = distinct.iter().map(|v| (v * 4.0).round() / 4.0).collect();
        for (what, logits) in [("distinct logits", distinct), ("logits in steps of 1/4", tied)] {
            let (got, want) = pollster::block_on(gpu_and_cpu_picks(&ctx, &mut samplers, &logits, &[]));
            assert_eq!(got, want, "{n} {what}");
        }
    }
}
