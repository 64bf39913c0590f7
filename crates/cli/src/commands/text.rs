//! `tokenize` and `detokenize`.

use super::{outln, print_json, read, CmdResult};
use archrace_gguf::Gguf;
use archrace_model::Tokenizer;
use std::path::Path;

fn tokenizer(path: &Path) -> Result<Tokenizer, Box<dyn std::error::Error>> {
    let bytes = read(path)?;
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes)?)?;
    if let Some(w) = &tok.warning {
        super::warn(w);
    }
    Ok(tok)
}

/// `archrace tokenize`.
pub fn tokenize(path: &Path, text: &str, bos: bool, special: bool, json: bool) -> CmdResult {
    let tok = tokenizer(path)?;
    let ids = tok.encode(text, bos, special);
    if json {
        let pieces: Vec<String> =
            ids.iter().map(|&id| String::from_utf8_lossy(&tok.token_bytes(id, true)).into_owned()).collect();
        print_json(&serde_json::json!({ "ids": ids, "pieces": pieces }))?;
    } else {
        outln!("{}", ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","))?;
    }
    Ok(true)
}

/// `archrace detokenize`.
pub fn detokenize(path: &Path, ids: &[u32]) -> CmdResult {
    let tok = tokenizer(path)?;
    if let Some(&bad) = ids.iter().find(|&&id| id as usize >= tok.n_vocab()) {
        return Err(format!("token id {bad} is outside the vocabulary of {}", tok.n_vocab()).into());
    }
    outln!("{}", tok.decode(ids, false))?;
    Ok(true)
}
