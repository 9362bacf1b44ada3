#pragma once
// GPT-2's tokenizer as two files: a vocabulary (token -> id JSON) and a merges list (one "a b" pair a line, by
// rank, after a "#version" line). Hugging Face names them vocab.json + merges.txt, OpenAI encoder.json + vocab.bpe.
//
// As OpenAI's encoder, and unlike a Hugging Face tokenizer.json, nothing is an added token unless a config file
// beside them says so: "<|endoftext|>" in the text is spelled out as "<", "|", "endoftext", "|", ">". With a
// tokenizer_config.json / special_tokens_map.json / added_tokens.json, the tokens they name are added tokens, as
// in transformers' GPT2Tokenizer.
#include <filesystem>
#include <memory>
#include <vector>

#include "tokenizer/models/bpe_model.hpp"
#include "tokenizer/pipeline_tokenizer.hpp"

namespace arrakis::tok {

Vocabulary read_vocab_json(const std::filesystem::path& file);
std::vector<MergeRule> read_merges_txt(const std::filesystem::path& file);

/// The byte-level BPE tokenizer of `vocab_file` + `merges_file`, with the config files of their folder.
std::shared_ptr<PipelineTokenizer> load_bpe_files(const std::filesystem::path& vocab_file,
                                                  const std::filesystem::path& merges_file);

}  // namespace arrakis::tok
