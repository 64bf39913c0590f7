"""A byte-level BPE (GPT-2's scheme: bytes mapped to printable characters, the GPT-2 pre-split regex) trained
on the training split with Hugging Face `tokenizers`, stored in every GGUF as a `gpt2`-type vocabulary that
llama.cpp (and archrace) tokenize with pre-tokenizer `gpt-2`."""
import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"


def train(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def vocab(tok):
    """(tokens by id, merges as 'a b' strings in rank order, id of <|endoftext|>)."""
    by_id = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    assert [i for _, i in by_id] == list(range(len(by_id))), "token ids are not dense"
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    return [t for t, _ in by_id], merges, tok.token_to_id(EOT)


def token_bytes(tok):
    """Length in bytes of every token's text (0 for the special token): for bits per byte."""
    toks, _, eot = vocab(tok)
    dec = {c: b for b, c in bytes_to_unicode().items()}
    return [0 if i == eot else len(bytes(dec[ch] for ch in t)) for i, t in enumerate(toks)]


def bytes_to_unicode():
    """GPT-2's byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))
