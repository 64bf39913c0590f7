//! Tokenizers from GGUF metadata, as llama.cpp runs them (`llama-vocab.cpp`):
//! - `gpt2`: byte-level BPE (Radford et al. 2019; Sennrich et al. 2016) after a pre-tokenizer split chosen by
//!   `tokenizer.ggml.pre`;
//! - `llama`: SentencePiece-style BPE over scored pieces with `<0xXX>` byte fallback (Kudo & Richardson 2018).
//!
//! Decoding is streaming: bytes of a UTF-8 character split across tokens are held until it is complete.

use archrace_gguf::{Gguf, GgufError, Value};
use fancy_regex::Regex;
use std::collections::HashMap;

/// GPT-2's pre-tokenizer pattern; llama.cpp's hand-written splitter behaves as if it ended in `|\s+`.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's pattern (`llama-bpe`).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's pattern: like Llama 3 but one digit per piece.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// llama.cpp token types (`tokenizer.ggml.token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// Ordinary text.
    Normal,
    /// `<unk>`.
    Unknown,
    /// Control tokens such as `<|endoftext|>` or `<s>`: never produced from text unless specials are parsed.
    Control,
    /// User-defined tokens, matched in text like specials.
    UserDefined,
    /// Unused slots.
    Unused,
    /// SentencePiece byte tokens `<0xXX>`.
    Byte,
}

impl TokenType {
    fn from_id(id: i64) -> Self {
        match id {
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Normal,
        }
    }
}

/// Which algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    /// Byte-level BPE with merges (`gpt2`).
    Bpe,
    /// SentencePiece BPE with scores (`llama`).
    Spm,
}

/// A tokenizer read from a GGUF.
pub struct Tokenizer {
    /// Algorithm.
    pub kind: TokenizerKind,
    /// `tokenizer.ggml.pre`, for BPE.
    pub pre: String,
    /// A warning to show (e.g. an unknown pre-tokenizer that fell back to GPT-2's).
    pub warning: Option<String>,
    /// BOS id.
    pub bos: Option<u32>,
    /// EOS id.
    pub eos: Option<u32>,
    /// Whether to add BOS before a prompt (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    texts: Vec<String>,
    types: Vec<TokenType>,
    scores: Vec<f32>,
    by_text: HashMap<String, u32>,
    /// Merge rank by the merges file's line, `"left right"` (BPE symbols never hold a space: GPT-2 maps it
    /// to `Ġ`).
    merge_rank: HashMap<String, usize>,
    pre_regexes: Vec<Regex>,
    add_space_prefix: bool,
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
}

/// Errors reading a tokenizer.
pub type TokenizerError = GgufError;

fn strings(g: &Gguf, key: &str) -> Result<Vec<String>, TokenizerError> {
    let v = g.get(key).ok_or_else(|| GgufError::MissingKey(key.into()))?;
    let items = v.as_array().and_then(|a| a.as_strings()).ok_or(GgufError::WrongType {
        key: key.into(),
        expected: "an array of strings",
        found: v.type_name(),
    })?;
    Ok(items.iter().map(str::to_string).collect())
}

/// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 onwards.
fn bytes_to_unicode() -> [char; 256] {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut map = ['\0'; 256];
    let mut n = 0;
    for b in 0..256u32 {
        map[b as usize] = if printable(b) {
            char::from_u32(b).expect("latin-1")
        } else {
            n += 1;
            char::from_u32(255 + n).expect("valid code point")
        };
    }
    map
}

impl Tokenizer {
    /// Reads `tokenizer.ggml.*` from a GGUF.
    pub fn from_gguf(g: &Gguf) -> Result<Self, TokenizerError> {
        let model = g.get("tokenizer.ggml.model").and_then(Value::as_str).unwrap_or("gpt2");
        let kind = match model {
            "gpt2" => TokenizerKind::Bpe,
            "llama" => TokenizerKind::Spm,
            other => {
                return Err(GgufError::WrongType {
                    key: format!("tokenizer.ggml.model = {other:?}"),
                    expected: "\"gpt2\" or \"llama\"",
                    found: "another tokenizer",
                })
            }
        };
        let texts = strings(g, "tokenizer.ggml.tokens")?;
        let n = texts.len();
        let types: Vec<TokenType> = match g.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(a) if a.len() == n => {
                a.values().map(|v| TokenType::from_id(v.as_f64().unwrap_or(1.0) as i64)).collect()
            }
            _ => vec![TokenType::Normal; n],
        };
        let scores: Vec<f32> = match g.get("tokenizer.ggml.scores").and_then(Value::as_array) {
            Some(a) if a.len() == n => a.values().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect(),
            _ => vec![0.0; n],
        };
        let mut merge_rank = HashMap::new();
        if kind == TokenizerKind::Bpe {
            for (rank, m) in strings(g, "tokenizer.ggml.merges")?.into_iter().enumerate() {
                if m.split_once(' ').is_some() {
                    merge_rank.entry(m).or_insert(rank);
                }
            }
        }
        let id = |key: &str| g.get(key).and_then(Value::as_u64).filter(|&v| (v as usize) < n).map(|v| v as u32);
        let pre = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default").to_string();
        let (patterns, warning): (Vec<&str>, Option<String>) = match pre.as_str() {
            "gpt-2" | "gpt2" | "default" => (vec![GPT2], None),
            "llama-bpe" | "llama3" => (vec![LLAMA3], None),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
                (vec![r"\p{N}", GPT2], None)
            }
            "qwen2" | "deepseek-r1-qwen" => (vec![QWEN2], None),
            other => (vec![GPT2], Some(format!("unknown pre-tokenizer {other:?}: using GPT-2's split"))),
        };
        let pre_regexes = patterns.iter().map(|p| Regex::new(p).expect("built-in pattern compiles")).collect();
        let byte_to_char = bytes_to_unicode();
        let char_to_byte = byte_to_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let by_text = texts.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Ok(Self {
            kind,
            pre,
            warning,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            add_bos: g
                .get("tokenizer.ggml.add_bos_token")
                .and_then(Value::as_bool)
                .unwrap_or(kind == TokenizerKind::Spm),
            add_space_prefix: g
                .get("tokenizer.ggml.add_space_prefix")
                .and_then(Value::as_bool)
                .unwrap_or(kind == TokenizerKind::Spm),
            texts,
            types,
            scores,
            by_text,
            merge_rank,
            pre_regexes,
            byte_to_char,
            char_to_byte,
        })
    }

    /// Vocabulary size.
    pub fn n_vocab(&self) -> usize {
        self.texts.len()
    }

    /// Checks this tokenizer fits a model with `n_vocab` embedding rows: fewer tokens would leave ids the
    /// model can produce without text, more would let prompts hold ids the model cannot embed.
    pub fn check_model(&self, n_vocab: usize) -> Result<(), crate::ModelError> {
        if self.n_vocab() != n_vocab {
            return Err(crate::ModelError::VocabMismatch { tokenizer: self.n_vocab(), model: n_vocab });
        }
        Ok(())
    }

    /// A token's type.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// Tokenizes `text`. With `parse_special`, control and user-defined token texts in `text` become their
    /// ids; otherwise they are plain text. With `add_bos`, BOS goes first.
    pub fn encode(&self, text: &str, add_bos: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_bos {
            out.extend(self.bos);
        }
        for (piece, special) in self.split_specials(text, parse_special) {
            match special {
                Some(id) => out.push(id),
                None => match self.kind {
                    TokenizerKind::Bpe => self.encode_bpe(piece, &mut out),
                    TokenizerKind::Spm => self.encode_spm(
                        piece,
                        out.is_empty() || out == self.bos.into_iter().collect::<Vec<_>>(),
                        &mut out,
                    ),
                },
            }
        }
        out
    }

    /// Splits out special-token texts (longest first), when asked to.
    fn split_specials<'t>(&self, text: &'t str, parse_special: bool) -> Vec<(&'t str, Option<u32>)> {
        if !parse_special {
            return if text.is_empty() { vec![] } else { vec![(text, None)] };
        }
        let mut specials: Vec<(&str, u32)> = self
            .texts
            .iter()
            .enumerate()
            .filter(|(i, t)| matches!(self.types[*i], TokenType::Control | TokenType::UserDefined) && !t.is_empty())
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        specials.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        let mut out = Vec::new();
        let mut rest = text;
        'outer: while !rest.is_empty() {
            for (i, _) in rest.char_indices() {
                if let Some(&(s, id)) = specials.iter().find(|(s, _)| rest[i..].starts_with(s)) {
                    if i > 0 {
                        out.push((&rest[..i], None));
                    }
                    out.push((&rest[i..i + s.len()], Some(id)));
                    rest = &rest[i + s.len()..];
                    continue 'outer;
                }
            }
            out.push((rest, None));
            break;
        }
        out
    }

    /// Pre-tokenizer: each pattern in turn splits every piece into its matches and the text between them.
    fn pre_split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut pieces = vec![text];
        for re in &self.pre_regexes {
            let mut next = Vec::new();
            for piece in pieces {
                let mut last = 0;
                for m in re.find_iter(piece).flatten() {
                    if m.start() > last {
                        next.push(&piece[last..m.start()]);
                    }
                    if m.end() > m.start() {
                        next.push(m.as_str());
                    }
                    last = m.end();
                }
                if last < piece.len() {
                    next.push(&piece[last..]);
                }
            }
            pieces = next;
        }
        pieces
    }

    fn encode_bpe(&self, text: &str, out: &mut Vec<u32>) {
        for piece in self.pre_split(text) {
            let mapped: String = piece.bytes().map(|b| self.byte_to_char[b as usize]).collect();
            if let Some(&id) = self.by_text.get(&mapped) {
                out.push(id);
                continue;
            }
            // The pair of lowest merge rank goes first. Ranks are exact in f32 below 2^24 merges.
            let symbols = merge_pairs(&mapped, |a, b| self.merge_rank.get(&format!("{a} {b}")).map(|&r| r as f32));
            for s in symbols {
                match self.by_text.get(s) {
                    Some(&id) => out.push(id),
                    // No token for the symbol: fall back to its single bytes, as llama.cpp does.
                    None => out.extend(s.chars().filter_map(|c| self.by_text.get(&c.to_string()).copied())),
                }
            }
        }
    }

    fn encode_spm(&self, text: &str, at_start: bool, out: &mut Vec<u32>) {
        let prefixed = if self.add_space_prefix && at_start { format!(" {text}") } else { text.to_string() };
        let escaped = prefixed.replace(' ', "\u{2581}");
        // The pair whose merged piece has the highest score goes first.
        let symbols =
            merge_pairs(&escaped, |a, b| self.by_text.get(&format!("{a}{b}")).map(|&id| -self.scores[id as usize]));
        for s in symbols {
            match self.by_text.get(s) {
                Some(&id) => out.push(id),
                None => {
                    for b in s.bytes() {
                        if let Some(&id) = self.by_text.get(&format!("<0x{b:02X}>")) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }

    /// The bytes a token stands for. Control tokens give their text only with `unparse_special`.
    pub fn token_bytes(&self, id: u32, unparse_special: bool) -> Vec<u8> {
        let (Some(text), Some(ty)) = (self.texts.get(id as usize), self.types.get(id as usize)) else {
            return Vec::new();
        };
        match ty {
            TokenType::Control | TokenType::Unknown | TokenType::Unused => {
                if unparse_special {
                    text.as_bytes().to_vec()
                } else {
                    Vec::new()
                }
            }
            TokenType::UserDefined => text.as_bytes().to_vec(),
            TokenType::Byte => u8::from_str_radix(text.trim_start_matches("<0x").trim_end_matches('>'), 16)
                .map(|b| vec![b])
                .unwrap_or_default(),
            TokenType::Normal => match self.kind {
                TokenizerKind::Bpe => text.chars().filter_map(|c| self.char_to_byte.get(&c).copied()).collect(),
                TokenizerKind::Spm => text.replace('\u{2581}', " ").into_bytes(),
            },
        }
    }

    /// Decodes ids to text; invalid UTF-8 (a character cut off at the end) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], unparse_special: bool) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id, unparse_special)).collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match self.kind {
            // SentencePiece: the space prefix added at encoding is removed again.
            TokenizerKind::Spm if self.add_space_prefix => text.strip_prefix(' ').map(str::to_string).unwrap_or(text),
            _ => text,
        }
    }
}

/// Repeatedly merges the adjacent pair with the lowest `priority` (leftmost on ties) until no pair has one:
/// the BPE loop shared by both tokenizers, which differ only in how they rank a pair. `text` starts as one
/// symbol per character; the result is the final symbols in order.
///
/// Candidate pairs wait in a heap and symbols form a linked list, so a word of n characters costs
/// O(n log n) pair lookups, not the O(n^2) of rescanning every pair after each merge (a 32 KiB word
/// took minutes that way).
fn merge_pairs(text: &str, priority: impl Fn(&str, &str) -> Option<f32>) -> Vec<&str> {
    use std::cmp::Ordering;
    use std::collections::BinaryHeap;

    /// A symbol: `text[start..end]`, linked to its neighbours (`usize::MAX` for none).
    struct Symbol {
        start: usize,
        end: usize,
        prev: usize,
        next: usize,
    }
    /// A pair that could merge, as it was when queued: stale once either side has changed.
    struct Candidate {
        priority: f32,
        left: usize,
        right: usize,
        end: usize,
    }
    impl PartialEq for Candidate {
        fn eq(&self, o: &Self) -> bool {
            self.cmp(o) == Ordering::Equal
        }
    }
    impl Eq for Candidate {}
    impl PartialOrd for Candidate {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Candidate {
        // BinaryHeap pops the greatest: the lowest priority, then the leftmost, is the greatest.
        fn cmp(&self, o: &Self) -> Ordering {
            o.priority.total_cmp(&self.priority).then(o.left.cmp(&self.left))
        }
    }

    const NONE: usize = usize::MAX;
    let mut symbols: Vec<Symbol> = Vec::new();
    for (i, (start, c)) in text.char_indices().enumerate() {
        symbols.push(Symbol { start, end: start + c.len_utf8(), prev: i.wrapping_sub(1), next: i + 1 });
    }
    let Some(last) = symbols.last_mut() else { return Vec::new() };
    last.next = NONE;
    let mut heap = BinaryHeap::new();
    let queue = |heap: &mut BinaryHeap<Candidate>, symbols: &[Symbol], left: usize| {
        if left == NONE || symbols[left].next == NONE {
            return;
        }
        let right = symbols[left].next;
        let (l, r) = (&symbols[left], &symbols[right]);
        if let Some(priority) = priority(&text[l.start..l.end], &text[r.start..r.end]) {
            heap.push(Candidate { priority, left, right, end: r.end });
        }
    };
    for i in 0..symbols.len() {
        queue(&mut heap, &symbols, i);
    }
    while let Some(c) = heap.pop() {
        // Stale: the left symbol was merged away (its links are cut) or grew (its neighbour changed), or
        // the right one grew.
        if symbols[c.left].next != c.right || symbols[c.right].end != c.end {
            continue;
        }
        let right_next = symbols[c.right].next;
        symbols[c.left].end = c.end;
        symbols[c.left].next = right_next;
        (symbols[c.right].prev, symbols[c.right].next) = (NONE, NONE);
        if right_next != NONE {
            symbols[right_next].prev = c.left;
        }
        let prev = symbols[c.left].prev;
        queue(&mut heap, &symbols, prev);
        queue(&mut heap, &symbols, c.left);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i != NONE {
        out.push(&text[symbols[i].start..symbols[i].end]);
        i = symbols[i].next;
    }
    out
}

/// Streaming detokenizer: feed ids one by one and get text as soon as whole characters are there.
#[derive(Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// Adds a token's bytes and returns the text that is now complete.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        self.pending.extend(tok.token_bytes(id, false));
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // An incomplete character at the end waits for the next token; an invalid one is replaced.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let done: Vec<u8> = self.pending.drain(..valid).collect();
        String::from_utf8_lossy(&done).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archrace_gguf::{GgufWriter, Strings};

    /// A SentencePiece vocabulary: specials, two byte tokens, pieces with scores.
    fn spm() -> Vec<u8> {
        let pieces: Vec<(&str, f32, i32)> = vec![
            ("<unk>", 0.0, 2),
            ("<s>", 0.0, 3),
            ("</s>", 0.0, 3),
            ("<0xCE>", 0.0, 6),
            ("<0xA9>", 0.0, 6),
            ("\u{2581}", -1.0, 1),
            ("h", -2.0, 1),
            ("e", -2.0, 1),
            ("l", -2.0, 1),
            ("o", -2.0, 1),
            ("\u{2581}h", -3.0, 1),
            ("ll", -1.5, 1),
            ("\u{2581}he", -4.0, 1),
            ("llo", -1.0, 1),
            ("\u{2581}hello", -0.5, 1),
        ];
        let mut w = GgufWriter::new();
        w.metadata("tokenizer.ggml.model", Value::String("llama".into()))
            .metadata("tokenizer.ggml.tokens", Value::Array(Strings::from_iter(pieces.iter().map(|p| p.0)).into()))
            .metadata("tokenizer.ggml.scores", Value::Array(pieces.iter().map(|p| p.1).collect::<Vec<f32>>().into()))
            .metadata(
                "tokenizer.ggml.token_type",
                Value::Array(pieces.iter().map(|p| p.2).collect::<Vec<i32>>().into()),
            )
            .metadata("tokenizer.ggml.bos_token_id", Value::U32(1))
            .metadata("tokenizer.ggml.eos_token_id", Value::U32(2));
        w.to_bytes()
    }

    #[test]
    fn sentencepiece_merges_by_score_with_space_prefix_and_byte_fallback() {
        let bytes = spm();
        let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        assert_eq!(tok.kind, TokenizerKind::Spm);
        assert!(tok.add_bos, "SentencePiece vocabularies add BOS unless told otherwise");
        // "hello" -> "▁hello" (the prefix space is added, merges follow the scores)
        assert_eq!(tok.encode("hello", true, false), vec![1, 14]);
        // "Ω" is not a piece: its UTF-8 bytes CE A9 become byte tokens.
        assert_eq!(tok.encode("hello Ω", false, false), vec![14, 5, 3, 4]);
        assert_eq!(tok.decode(&[1, 14, 5, 3, 4], false), "hello Ω");
        assert_eq!(tok.decode(&[1], true), "<s>");
    }

    #[test]
    fn merging_costs_a_linear_number_of_pair_lookups() {
        // 2^16 equal characters merged pairwise into one symbol (a full binary tree of merges): the old
        // rescanning loop asked for ~2^31 pair priorities, the heap asks for a few per merge.
        let text = "a".repeat(1 << 16);
        let calls = std::cell::Cell::new(0usize);
        let symbols = merge_pairs(&text, |a, b| {
            calls.set(calls.get() + 1);
            (a.len() == b.len()).then_some(a.len() as f32)
        });
        assert_eq!(symbols, [text.as_str()]);
        assert!(calls.get() <= 3 << 16, "{} lookups for 2^16 characters", calls.get());
        // Leftmost first on ties, and unmergeable neighbours stay apart.
        assert_eq!(merge_pairs("aaa", |a, b| (a.len() + b.len() == 2).then_some(0.0)), ["aa", "a"]);
        assert_eq!(merge_pairs("abab", |a, b| (a == "a" && b == "b").then_some(1.0)), ["ab", "ab"]);
        assert!(merge_pairs("", |_, _| Some(0.0)).is_empty());
    }

    #[test]
    fn stream_decoder_holds_split_characters() {
        let bytes = spm();
        let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let mut s = StreamDecoder::default();
        assert_eq!(s.push(&tok, 3), "", "first byte of Ω waits");
        assert_eq!(s.push(&tok, 4), "Ω");
    }

    #[test]
    fn unknown_pre_tokenizer_falls_back_to_gpt2_with_a_warning() {
        let mut w = GgufWriter::new();
        w.metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
            .metadata("tokenizer.ggml.pre", Value::String("mystery".into()))
            .metadata("tokenizer.ggml.tokens", Value::Array(Strings::from_iter(["a"]).into()))
            .metadata("tokenizer.ggml.merges", Value::Array(Strings::default().into()));
        let bytes = w.to_bytes();
        let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        assert!(tok.warning.as_deref().unwrap().contains("mystery"));
        assert_eq!(tok.encode("a", false, false), vec![0]);
    }
}
