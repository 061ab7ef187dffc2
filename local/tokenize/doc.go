// Package tokenize turns text into model input ids exactly as the Hugging Face
// tokenizers library does, from a model's tokenizer.json.
//
// It implements the parts of the tokenizer.json format that embedding models
// use: normalizers (NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents,
// Replace, Prepend, BertNormalizer, SentencePiece's Precompiled, Sequence), pre-tokenizers (Split,
// ByteLevel, BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace,
// Punctuation, Digits, Sequence), the BPE, WordPiece, WordLevel and Unigram
// models, added and special tokens, truncation, and the Roberta, Bert and
// Template post-processors. Anything else is refused when the file is loaded,
// naming the component, rather than tokenized approximately.
//
// Regular expressions are compiled with regexp2 rather than the standard
// library because tokenizers' patterns are Oniguruma patterns: \s, \w and \d
// are Unicode-aware there, and GPT-2's pattern needs a lookahead.
//
// Correctness is measured against the reference: the tests compare with ids
// from CLIPTokenizerFast, BertTokenizerFast and SentencePiece.
package tokenize
