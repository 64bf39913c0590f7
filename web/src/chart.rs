//! Chart geometry, kept apart from the SVG so it can be tested: a log2 x scale for context length, a
//! linear y scale from zero, "nice" ticks, and the labels on them.

/// Maps values in `[lo, hi]` to pixels `[px0, px1]` on a log2 scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogScale {
    /// Smallest value (a power of two).
    pub lo: f64,
    /// Largest value (a power of two).
    pub hi: f64,
    /// Pixel of `lo`.
    pub px0: f64,
    /// Pixel of `hi`.
    pub px1: f64,
}

impl LogScale {
    /// The powers of two around `values`, never narrower than `[min_lo, min_hi]`.
    pub fn covering(values: impl IntoIterator<Item = f64>, min_lo: f64, min_hi: f64, px0: f64, px1: f64) -> Self {
        let (mut lo, mut hi) = (min_lo, min_hi);
        for v in values.into_iter().filter(|v| *v > 0.0 && v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        Self { lo: 2f64.powf(lo.log2().floor()), hi: 2f64.powf(hi.log2().ceil()), px0, px1 }
    }

    /// The pixel of `v`.
    pub fn map(&self, v: f64) -> f64 {
        let t = (v.max(self.lo).log2() - self.lo.log2()) / (self.hi.log2() - self.lo.log2()).max(f64::EPSILON);
        self.px0 + t * (self.px1 - self.px0)
    }

    /// Ticks at powers of four inside the domain (and its ends), so labels do not crowd.
    pub fn ticks(&self) -> Vec<f64> {
        let mut v = self.lo;
        let mut out = Vec::new();
        while v <= self.hi * 1.000_001 {
            out.push(v);
            v *= if v.log2().round() as i64 % 2 == 0 { 4.0 } else { 2.0 };
        }
        out
    }
}

/// Maps `[0, max]` to pixels `[px0, px1]` linearly (for y, `px0` is the bottom).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearScale {
    /// Top of the domain (a nice number).
    pub max: f64,
    /// Pixel of 0.
    pub px0: f64,
    /// Pixel of `max`.
    pub px1: f64,
}

impl LinearScale {
    /// From zero to a nice number at or above every value (1 when there are none).
    pub fn covering(values: impl IntoIterator<Item = f64>, px0: f64, px1: f64) -> Self {
        let top = values.into_iter().filter(|v| v.is_finite()).fold(0.0, f64::max);
        Self { max: nice_ceil(if top > 0.0 { top } else { 1.0 }), px0, px1 }
    }

    /// The pixel of `v`.
    pub fn map(&self, v: f64) -> f64 {
        self.px0 + (v / self.max) * (self.px1 - self.px0)
    }

    /// Five even steps from 0 to the top.
    pub fn ticks(&self) -> Vec<f64> {
        (0..=5).map(|i| self.max * i as f64 / 5.0).collect()
    }
}

/// The smallest of 1, 2, 2.5, 5 (times a power of ten) at or above `v`: a top whose fifths read well.
pub fn nice_ceil(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v * (1.0 - 1e-12)).unwrap_or(10.0 * p)
}

/// A context length as people write it: 256, 1K, 4K, 256K, 1M.
pub fn fmt_tokens(v: f64) -> String {
    let v = v.round() as u64;
    if v >= 1 << 20 && v.is_multiple_of(1 << 20) {
        format!("{}M", v >> 20)
    } else if v >= 1024 && v.is_multiple_of(1024) {
        format!("{}K", v >> 10)
    } else {
        v.to_string()
    }
}

/// Bytes in binary units with three significant digits: 812 B, 151 KiB, 3.56 MiB.
pub fn fmt_bytes(v: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = v as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v} B")
    } else if x >= 100.0 {
        format!("{x:.0} {}", units[u])
    } else if x >= 10.0 {
        format!("{x:.1} {}", units[u])
    } else {
        format!("{x:.2} {}", units[u])
    }
}

/// A tick label for a linear axis: no trailing zeros, at most two decimals.
pub fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
