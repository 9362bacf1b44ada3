#pragma once
// Hugging Face's tokenizer.json: a pipeline of components, each a JSON object with a "type".
//
// Supported (what the GPT-2, GPT-Neo, GPT-NeoX, Llama 2 and 3, Mistral, Gemma, Phi-3, Qwen2 and StableLM files use):
//   model          BPE (vocab; merges as "a b" strings or ["a", "b"] pairs; unk_token, fuse_unk, byte_fallback,
//                  ignore_merges, continuing_subword_prefix, end_of_word_suffix; dropout only null or 0)
//   normalizer     null, NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip, Sequence
//   pre_tokenizer  null, ByteLevel (add_prefix_space, use_regex; trim_offsets is about offsets, ignored), Split,
//                  Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence
//   decoder        null, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence
//   added_tokens   all fields: id, content, special, single_word, lstrip, rstrip, normalized
// Ignored: post_processor (encode adds no tokens; to_tokens adds BOS itself), truncation, padding.
// Any other component type is an arrakis::Error naming the type, where it is, and the file.
// Special-token ids come from tokenizer_config.json / special_tokens_map.json beside the file, else (byte-level
// BPE with "<|endoftext|>") GPT-2's: "<|endoftext|>" is bos, eos, unk and pad.
#include <filesystem>
#include <memory>

#include "tokenizer/pipeline_tokenizer.hpp"

namespace arrakis::tok {

std::shared_ptr<PipelineTokenizer> load_tokenizer_json(const std::filesystem::path& file);

}  // namespace arrakis::tok
