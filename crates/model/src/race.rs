//! The rules of a race, in one place for `archrace race` and the page, so a figure from one is
//! comparable with the other: what fills the context (real text, tokenized by the lane's own model), how
//! many tokens a prefill chunk takes, how many decode steps are timed at each context length, and which
//! statistic is reported (the median, which a single slow step on a busy machine does not move).

use crate::Tokenizer;

/// The text a context is filled from: see `public/text/README.md`. Natively it is compiled in; the page
/// fetches the same file (`public/text/shakespeare.txt`) and hands it to [`Filler::new`], so the wasm does
/// not carry it (nothing in the web crate refers to this constant).
pub const FILLER_TEXT: &str = include_str!("../../../public/text/shakespeare.txt");

/// Tokens per prefill chunk (one submit each).
pub const PREFILL_CHUNK: usize = 512;

/// Decode steps timed at each context length.
pub const DECODE_STEPS: usize = 8;

/// The context lengths "Extend context" steps through: 256, 1K, 4K, 16K, 64K, 256K tokens.
pub const CONTEXT_STEPS: [usize; 6] = [256, 1024, 4096, 16384, 65536, 262144];

/// The longest context a race fills: the last of the page's steps. Past a model's training context the
/// race still measures speed and memory (what it is for), and says the text no longer means anything.
pub const MAX_CONTEXT: usize = CONTEXT_STEPS[CONTEXT_STEPS.len() - 1];

/// The most decode steps timed at one context.
pub const MAX_DECODE_STEPS: usize = 4096;

/// The most tokens a prompt and its generation may take: the model's training context, or a race's
/// longest context for a model that does not give one.
pub fn context_limit(spec: &crate::ModelSpec) -> usize {
    spec.n_ctx_train.unwrap_or(MAX_CONTEXT)
}

/// The median of `v` (the upper one of an even count; 0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Tokens per second for `tokens` done in `ms` milliseconds (0 when nothing was timed).
pub fn tokens_per_s(tokens: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        tokens as f64 * 1e3 / ms
    } else {
        0.0
    }
}

/// The filler text as one model's tokenizer encodes it, paragraph by paragraph (so no more of the text is
/// tokenized than the tokens asked for need). Past the text's end it starts over, which only a vocabulary
/// of under ~3.5 characters per token reaches before 256K tokens.
#[derive(Clone, Debug)]
pub struct Filler {
    /// The text ([`FILLER_TEXT`], or the page's fetched copy of the same file).
    text: std::sync::Arc<str>,
    tokens: Vec<u32>,
    /// Byte offset in `text` up to which `tokens` holds the encoding.
    done: usize,
}

impl Default for Filler {
    /// The filler over [`FILLER_TEXT`].
    fn default() -> Self {
        Self::new(FILLER_TEXT.into())
    }
}

impl Filler {
    /// A filler over `text`.
    pub fn new(text: std::sync::Arc<str>) -> Self {
        Self { text, tokens: Vec::new(), done: 0 }
    }

    /// The text it fills from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Tokens `from .. from + n` of the filler as `tokenizer` encodes it (always the same tokenizer for
    /// one `Filler`), wrapping past its end.
    pub fn take(&mut self, tokenizer: &Tokenizer, from: usize, n: usize) -> Vec<u32> {
        while self.tokens.len() < from + n {
            if self.done >= self.text.len() {
                if self.tokens.is_empty() {
                    return Vec::new(); // a tokenizer that makes no tokens of the text
                }
                let len = self.tokens.len();
                return (from..from + n).map(|i| self.tokens[i % len]).collect();
            }
            // The next paragraph, cut one character before the end of the whitespace after its blank line:
            // GPT-2-style pre-tokenizers split a whitespace run before a word at that character, so the
            // pieces tokenize as the whole text does.
            let rest = &self.text[self.done..];
            let end = rest.find("\n\n").map_or(rest.len(), |i| {
                let run = rest[i..].bytes().take_while(u8::is_ascii_whitespace).count();
                (i + run).min(rest.len()) - usize::from(i + run < rest.len())
            });
            self.tokens.extend(tokenizer.encode(&rest[..end], false, false));
            self.done += end;
        }
        self.tokens[from..from + n].to_vec()
    }
}
