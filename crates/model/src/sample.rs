//! Sampling the next token from logits: repetition penalty, then greedy or top-k -> top-p -> min-p ->
//! temperature -> one seeded draw. The procedure is fixed and uses exactly one `SplitMix64::next_f32` per
//! sampled token, so a GPU sampler given the same seed draws the same token from the same logits.

use crate::rng::SplitMix64;
use crate::ModelError;
use serde::Serialize;

/// Sampling settings (llama.cpp's meanings).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SamplerConfig {
    /// Temperature; `<= 0` means greedy (argmax, lowest id on ties).
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p` (1 = all).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0 = none).
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recently seen tokens by this (1 = off).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the random stream.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self { temperature: 0.0, top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1.0, repeat_last_n: 64, seed: 0 }
    }
}

impl SamplerConfig {
    /// Checks every setting is in its range (llama.cpp's meanings), naming the first that is not: a
    /// negative or NaN temperature, a top-p outside (0, 1], a min-p outside [0, 1] or a repetition penalty
    /// that is not a positive number would otherwise sample silently from nonsense.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        let bad = |name: &'static str, value: f32, range: &str| {
            Err(crate::ModelError::BadSetting { name, reason: format!("{value} is outside {range}") })
        };
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature", self.temperature, "[0, inf) (0 = greedy)");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top-p", self.top_p, "(0, 1] (1 = off)");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min-p", self.min_p, "[0, 1] (0 = off)");
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return bad("repeat-penalty", self.repeat_penalty, "(0, inf) (1 = off)");
        }
        Ok(())
    }
}

/// A sampler with its random stream.
#[derive(Clone, Debug)]
pub struct Sampler {
    /// Settings.
    pub config: SamplerConfig,
    rng: SplitMix64,
}

impl Sampler {
    /// A sampler seeded from `config.seed`.
    pub fn new(config: SamplerConfig) -> Self {
        let rng = SplitMix64::new(config.seed);
        Self { config, rng }
    }

    /// The distinct tokens the repetition penalty applies to, given the tokens so far (none when the
    /// penalty is off): what a GPU sampler needs besides the settings and [`Sampler::draw`].
    pub fn penalized(&self, history: &[u32]) -> Vec<u32> {
        if self.config.repeat_penalty == 1.0 {
            return Vec::new();
        }
        let mut recent = history[history.len().saturating_sub(self.config.repeat_last_n)..].to_vec();
        recent.sort_unstable();
        recent.dedup();
        recent
    }

    /// The uniform draw [`Sampler::sample`] would make for the next token (with temperature > 0), for a
    /// sampler that runs elsewhere (the GPU): the stream advances exactly as if `sample` had run.
    pub fn draw(&mut self) -> f32 {
        self.rng.next_f32()
    }

    /// Picks the next token from `logits` (one row, `n_vocab`), given the tokens so far.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let c = &self.config;
        let mut logits = logits.to_vec();
        if c.repeat_penalty != 1.0 {
            let recent = &history[history.len().saturating_sub(c.repeat_last_n)..];
            let mut seen = vec![false; logits.len()];
            for &t in recent {
                if let Some(s) = seen.get_mut(t as usize) {
                    *s = true;
                }
            }
            for (l, _) in logits.iter_mut().zip(&seen).filter(|(_, &s)| s) {
                *l = if *l > 0.0 { *l / c.repeat_penalty } else { *l * c.repeat_penalty };
            }
        }
        if c.temperature <= 0.0 {
            return argmax(&logits);
        }
        // Candidates by logit, highest first (lowest id first on ties): a total order, so selecting the top
        // k and sorting only them gives the full sort's first k.
        let order = |&a: &u32, &b: &u32| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b));
        let mut cand: Vec<u32> = (0..logits.len() as u32).collect();
        if c.top_k > 0 && c.top_k < cand.len() {
            cand.select_nth_unstable_by(c.top_k - 1, order);
            cand.truncate(c.top_k);
        }
        cand.sort_unstable_by(order);
        // Probabilities before temperature decide top-p and min-p.
        let max = logits[cand[0] as usize];
        let p: Vec<f32> = cand.iter().map(|&i| (logits[i as usize] - max).exp()).collect();
        let sum: f32 = p.iter().sum();
        if c.top_p < 1.0 {
            let mut acc = 0.0;
            let keep = p.iter().position(|&x| {
                acc += x / sum;
                acc >= c.top_p
            });
            cand.truncate(keep.map_or(cand.len(), |i| i + 1));
        }
        if c.min_p > 0.0 {
            // p[0] is the largest: keep while p_i / p_0 >= min_p (the list is sorted, so a prefix).
            let keep = p.iter().take(cand.len()).take_while(|&&x| x / p[0] >= c.min_p).count().max(1);
            cand.truncate(keep);
        }
        let w: Vec<f32> = cand.iter().map(|&i| ((logits[i as usize] - max) / c.temperature).exp()).collect();
        let total: f32 = w.iter().sum();
        let target = self.rng.next_f32() * total;
        let mut acc = 0.0;
        for (&id, &wi) in cand.iter().zip(&w) {
            acc += wi;
            if acc > target {
                return id;
            }
        }
        *cand.last().expect("at least one candidate")
    }
}

/// `Err(NonFiniteLogits)` naming the first row of `logits` (rows of `n_vocab`, the first at position
/// `first_position`) that holds a NaN or an infinity: sampling from it would pick a meaningless token.
pub fn finite_logits(logits: &[f32], n_vocab: usize, first_position: usize) -> Result<(), ModelError> {
    match logits.chunks(n_vocab.max(1)).position(|row| row.iter().any(|v| !v.is_finite())) {
        Some(row) => Err(ModelError::NonFiniteLogits { position: first_position + row }),
        None => Ok(()),
    }
}

/// Index of the largest logit, lowest index on ties.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(temperature: f32) -> SamplerConfig {
        SamplerConfig { temperature, top_k: 0, top_p: 1.0, min_p: 0.0, ..Default::default() }
    }

    #[test]
    fn out_of_range_settings_are_named() {
        assert!(SamplerConfig::default().validate().is_ok());
        let cases: [(&str, SamplerConfig); 9] = [
            ("temperature", SamplerConfig { temperature: -1.0, ..Default::default() }),
            ("temperature", SamplerConfig { temperature: f32::NAN, ..Default::default() }),
            ("temperature", SamplerConfig { temperature: f32::INFINITY, ..Default::default() }),
            ("top-p", SamplerConfig { top_p: 2.0, ..Default::default() }),
            ("top-p", SamplerConfig { top_p: 0.0, ..Default::default() }),
            ("min-p", SamplerConfig { min_p: 5.0, ..Default::default() }),
            ("min-p", SamplerConfig { min_p: f32::NAN, ..Default::default() }),
            ("repeat-penalty", SamplerConfig { repeat_penalty: 0.0, ..Default::default() }),
            ("repeat-penalty", SamplerConfig { repeat_penalty: f32::NAN, ..Default::default() }),
        ];
        for (name, config) in cases {
            match config.validate() {
                Err(crate::ModelError::BadSetting { name: n, .. }) => assert_eq!(n, name, "{config:?}"),
                other => panic!("{config:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn greedy_is_argmax_with_lowest_id_on_ties() {
        let mut s = Sampler::new(cfg(0.0));
        assert_eq!(s.sample(&[1.0, 3.0, 3.0, -1.0], &[]), 1);
    }

    #[test]
    fn same_seed_same_tokens_and_frequencies_follow_the_distribution() {
        let logits = [0.0, 1.0, 2.0];
        let draw = |seed| {
            let mut s = Sampler::new(SamplerConfig { seed, ..cfg(1.0) });
            (0..3000).map(|_| s.sample(&logits, &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let d = draw(7);
        let freq = |t| d.iter().filter(|&&x| x == t).count() as f32 / d.len() as f32;
        let z: f32 = logits.iter().map(|l: &f32| l.exp()).sum();
        for t in 0..3 {
            assert!((freq(t) - logits[t as usize].exp() / z).abs() < 0.03, "token {t}: {}", freq(t));
        }
    }

    #[test]
    fn top_k_top_p_and_min_p_cut_the_tail() {
        let logits = [5.0, 4.9, 0.0, -1.0];
        for config in [
            SamplerConfig { top_k: 2, ..cfg(5.0) },
            SamplerConfig { top_p: 0.9, ..cfg(5.0) },
            SamplerConfig { min_p: 0.1, ..cfg(5.0) },
        ] {
            let mut s = Sampler::new(config.clone());
            for _ in 0..500 {
                assert!(s.sample(&logits, &[]) < 2, "{config:?}");
            }
        }
    }

    #[test]
    fn top_k_takes_the_lowest_ids_among_tied_logits_in_total_order() {
        // Ids 3, 5, 7 and 9 share the top logit; +0 ranks above -0 (f32::total_cmp), as on the GPU.
        let mut logits = vec![-1.0f32; 12];
        for i in [9, 3, 7, 5] {
            logits[i] = 2.0;
        }
        let mut seen = [0; 12];
        let mut s = Sampler::new(SamplerConfig { top_k: 2, ..cfg(1.0) });
        for _ in 0..400 {
            seen[s.sample(&logits, &[]) as usize] += 1;
        }
        assert!(seen[3] > 0 && seen[5] > 0 && seen[3] + seen[5] == 400, "{seen:?}");
        let mut s = Sampler::new(SamplerConfig { top_k: 1, ..cfg(1.0) });
        assert_eq!(s.sample(&[-0.0, 0.0, -0.0], &[]), 1);
    }

    #[test]
    fn repetition_penalty_pushes_seen_tokens_down() {
        let mut s = Sampler::new(SamplerConfig { repeat_penalty: 4.0, ..cfg(0.0) });
        assert_eq!(s.sample(&[2.0, 1.0], &[0]), 1, "2/4 < 1");
        assert_eq!(s.sample(&[-1.0, -2.0], &[0]), 1, "negative logits are multiplied: -1 * 4 < -2");
    }
}
