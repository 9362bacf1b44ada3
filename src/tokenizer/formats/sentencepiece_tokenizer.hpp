#pragma once
// SentencePiece model files (tokenizer.model, as Llama 2, Mistral and Gemma ship beside tokenizer.json), read,
// encoded and decoded by the SentencePiece library itself (Debian's libsentencepiece), so ids are SentencePiece's
// by construction: its normalizer, dummy prefix, BPE or unigram segmentation, byte fallback and user-defined
// symbols all come from the model file.
//
// Special tokens: bos, eos, unk and pad are the model's own ids (absent where the model disables one). In decode,
// control pieces ("<s>", "</s>", ...) and the unknown piece count as special: written as their piece ("<unk>",
// not SentencePiece's " ⁇ ") unless skip_special, which drops them. Text in encode is never read as a control
// piece ("<s>" in the text is spelled out), as in SentencePiece.
#include <filesystem>
#include <memory>

#include "arrakis/tokenizer/tokenizer.hpp"

namespace arrakis::tok {

/// An arrakis::Error naming the file and SentencePiece's complaint when it is not a SentencePiece model.
std::shared_ptr<Tokenizer> load_sentencepiece_model(const std::filesystem::path& file);

}  // namespace arrakis::tok
