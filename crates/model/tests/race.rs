//! The race's filler text: real text long enough for 256K tokens of the bundled models, tokenized
//! paragraph by paragraph as the whole text would be.

use archrace_gguf::Gguf;
use archrace_model::race::{median, Filler, CONTEXT_STEPS, FILLER_TEXT};
use archrace_model::Tokenizer;

fn demo_tokenizer() -> Tokenizer {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/models/llama-q8_0.gguf");
    let bytes = std::fs::read(path).unwrap();
    Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap()
}

#[test]
fn the_filler_holds_256k_tokens_of_the_demo_models_without_repeating() {
    let tok = demo_tokenizer();
    let mut filler = Filler::default();
    let max = *CONTEXT_STEPS.last().unwrap();
    let all = filler.take(&tok, 0, max);
    assert_eq!(all.len(), max);
    // Not one passage repeated: the 256K-th token is deep in the text, in its last plays.
    let tail: String = tok.decode(&all[max - 100..], false).chars().skip(20).take(120).collect();
    let at = FILLER_TEXT.find(&tail).unwrap_or_else(|| panic!("{tail:?} is not in the filler text"));
    assert!(at > FILLER_TEXT.len() * 3 / 4, "token 256K is at byte {at} of {}", FILLER_TEXT.len());
    // Taking in pieces gives the same tokens.
    let mut pieces = Filler::default();
    let mut again = pieces.take(&tok, 0, 1000);
    again.extend(pieces.take(&tok, 1000, 3096));
    assert_eq!(again, all[..4096]);
    // Paragraph by paragraph is how the whole text tokenizes (checked on its first 200 KB).
    let cut = FILLER_TEXT[..200_000].rfind("\n\n").unwrap() + 2;
    let whole = tok.encode(&FILLER_TEXT[..cut], false, false);
    // (Its last tokens are the cut's trailing whitespace, which the filler joins with what follows.)
    let n = whole.len() - 2;
    assert_eq!(whole[..n], all[..n]);
}

#[test]
fn the_statistic_is_the_median() {
    assert_eq!(median(vec![5.0, 1.0, 100.0]), 5.0);
    assert_eq!(median(vec![]), 0.0);
}
