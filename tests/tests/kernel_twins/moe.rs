//! The feed-forward's SwiGLU and the MoE router (with its norm).

use crate::common::parity::{bytes, check, run, TIGHT, TRANSCENDENTAL};
use archrace_cpu::ops::moe::{moe_norm_route, moe_route, swiglu};
use archrace_cpu::SplitMix64;
use archrace_gpu::kernels::oneshot::{run_kernel, Arg};
use archrace_gpu::Kernel;
use archrace_tests::gpu::subgroup_twins_or_skip;

#[test]
fn swiglu_and_moe_route_match_their_twins() {
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("ffn parity")) {
        eprintln!("ffn parity: {twin}");
        let mut rng = SplitMix64::new(5);
        let (g, u) = (rng.vec(1000, -6.0, 6.0), rng.vec(1000, -1.0, 1.0));
        let args = [(1, Arg::In(bytes(&g))), (2, Arg::In(bytes(&u))), (3, Arg::Out(4000))];
        let got = run(&ctx, Kernel::Swiglu, &[1000], &args, [16, 1, 1]);
        check("swiglu", &swiglu(&g, &u), &got[0], TRANSCENDENTAL);

        for (experts, top_k) in [(16usize, 2usize), (4, 2), (64, 8)] {
            let mut logits = rng.vec(experts, -2.0, 2.0);
            logits[experts - 1] = logits[1]; // a tie: the lower index wins
            let want = moe_route(&logits, top_k);
            let args = [(1, Arg::In(bytes(&logits))), (2, Arg::Out(2 * top_k * 4))];
            let out = pollster::block_on(run_kernel(
                &ctx,
                Kernel::MoeRoute,
                &[experts as u32, top_k as u32],
                &args,
                [1, 1, 1],
            ))
            .unwrap();
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&out[0]);
            let ids: Vec<usize> = words[..top_k].iter().map(|&i| i as usize).collect();
            assert_eq!(ids, want.iter().map(|w| w.0).collect::<Vec<_>>(), "moe_route ids, {experts} experts");
            let weights: Vec<f32> = words[top_k..].iter().map(|&b| f32::from_bits(b)).collect();
            check("moe_route weights", &want.iter().map(|w| w.1).collect::<Vec<_>>(), &weights, TRANSCENDENTAL);
        }
    }
}

/// `moe_norm_route` against its twin: two tokens' rows (one workgroup each), RMSNorm and LayerNorm, a row
/// width that is no multiple of the workgroup, and expert counts that share the workgroup evenly (16), not
/// as a power of two (6), or one thread each (256).
#[test]
fn moe_norm_route_matches_its_twin() {
    use archrace_model::Norm;
    for (twin, ctx) in pollster::block_on(subgroup_twins_or_skip("moe_norm_route parity")) {
        eprintln!("moe_norm_route parity: {twin}");
        let (e, t, eps) = (300usize, 2usize, 1e-5f32);
        let mut rng = SplitMix64::new(8);
        for (experts, top_k, kind) in [(16usize, 2usize, 0u32), (6, 2, 1), (256, 8, 0)] {
            let x = rng.vec(t * e, -3.0, 3.0);
            let (w, b) = (rng.vec(e, 0.5, 1.5), rng.vec(e, -0.5, 0.5));
            let router = rng.vec(experts * e, -1.0, 1.0);
            let norm = if kind == 0 { Norm::Rms { eps } } else { Norm::Layer { eps } };
            let params = [experts as u32, top_k as u32, t as u32, e as u32, kind, eps.to_bits()];
            let args = [
                (2, Arg::Out(t * 2 * top_k * 4)),
                (4, Arg::In(bytes(&x))),
                (5, Arg::In(bytes(&w))),
                (6, Arg::In(bytes(&b))),
                (7, Arg::In(bytes(&router))),
                (8, Arg::Out(t * e * 4)),
            ];
            let out =
                pollster::block_on(run_kernel(&ctx, Kernel::MoeNormRoute, &params, &args, [t as u32, 1, 1])).unwrap();
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&out[0]);
            let h: Vec<f32> = bytemuck::pod_collect_to_vec(&out[1]);
            for tok in 0..t {
                let (want_h, want) = moe_norm_route(&x[tok * e..][..e], norm, (&w, &b), &router, top_k);
                let what = format!("moe_norm_route, {experts} experts, norm kind {kind}, token {tok}");
                check(&format!("{what}: h"), &want_h, &h[tok * e..][..e], TIGHT);
                let slots = &words[tok * 2 * top_k..][..2 * top_k];
                let ids: Vec<usize> = slots[..top_k].iter().map(|&i| i as usize).collect();
                assert_eq!(ids, want.iter().map(|w| w.0).collect::<Vec<_>>(), "{what}: ids");
                let weights: Vec<f32> = slots[top_k..].iter().map(|&b| f32::from_bits(b)).collect();
                check(
                    &format!("{what}: weights"),
                    &want.iter().map(|w| w.1).collect::<Vec<_>>(),
                    &weights,
                    TRANSCENDENTAL,
                );
            }
        }
    }
}
