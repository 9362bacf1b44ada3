#pragma once
// llama2.c's tokenizer.bin (Karpathy's llama2.c; stories260K's tok512.bin is one): a SentencePiece vocabulary
// exported as int32 max_token_length, then per token a float32 score, an int32 byte length and the bytes
// (little-endian). "▁" is written as a space, BOS and EOS as "\n<s>\n" and "\n</s>\n", bytes as "<0xXX>".
//
// Encoding is llama2.c's run.c encode(): a dummy-prefix " " token first (when the text is not empty), then each
// UTF-8 character's token, or its bytes' tokens (id = byte + 3) when it has none, then, again and again, the
// adjacent pair whose concatenation is a token with the highest score is merged (the leftmost on equal scores).
// (run.c scans all pairs per merge; this keeps the pairs in a heap, which merges in the same order.) Decoding is
// run.c's decode(): each token's piece, without its leading space right after BOS (id 1), "<0xXX>" as the byte.
// BOS = 1, EOS = 2, UNK = 0 (written "<s>", "</s>", "<unk>"), as in llama2.c; no pad.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "arrakis/tokenizer/tokenizer.hpp"

namespace arrakis::tok {

/// Whether `file` parses as a llama2.c tokenizer (the whole file, so that a llama2.c model checkpoint or other
/// .bin is not taken for one); the reason when it does not.
std::optional<std::string> llama2c_tokenizer_problem(const std::filesystem::path& file);

/// An arrakis::Error naming the file and what is wrong when it does not parse.
std::shared_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& file);

}  // namespace arrakis::tok
