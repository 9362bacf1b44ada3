// TransformerLens' tokenizer conveniences over any Tokenizer. The only tokenizer file that needs LibTorch.
#include "arrakis/tokenizer/token_batch.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "arrakis/error.hpp"

namespace arrakis {

namespace {

std::vector<std::int64_t> encode_with_bos(const Tokenizer& tokenizer, std::string_view text, bool prepend_bos) {
  const auto bos = tokenizer.special_tokens().bos;
  if (!prepend_bos || !bos) return tokenizer.encode(text);
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> body = tokenizer.encode(text);
  ids.reserve(body.size() + 1);
  ids.push_back(*bos);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

}  // namespace

TokenBatch to_tokens(const Tokenizer& tokenizer, std::span<const std::string> texts, const ToTokensOptions& options) {
  std::vector<std::vector<std::int64_t>> rows;
  rows.reserve(texts.size());
  std::size_t width = 0;
  for (const std::string& text : texts) {
    rows.push_back(encode_with_bos(tokenizer, text, options.prepend_bos));
    width = std::max(width, rows.back().size());
  }
  const SpecialTokens& special = tokenizer.special_tokens();
  const std::int64_t pad = special.pad.value_or(special.eos.value_or(0));

  const auto batch = static_cast<std::int64_t>(rows.size());
  const auto columns = static_cast<std::int64_t>(width);
  TokenBatch result{torch::full({batch, columns}, pad, torch::kLong), torch::zeros({batch, columns}, torch::kLong)};
  auto* ids = result.input_ids.data_ptr<std::int64_t>();
  auto* mask = result.attention_mask.data_ptr<std::int64_t>();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::size_t offset = r * width + (options.padding_side == PaddingSide::Left ? width - row.size() : 0);
    std::copy(row.begin(), row.end(), ids + offset);
    std::fill_n(mask + offset, row.size(), std::int64_t{1});
  }
  return result;
}

TokenBatch to_tokens(const Tokenizer& tokenizer, std::string_view text, const ToTokensOptions& options) {
  const std::string texts[] = {std::string(text)};
  return to_tokens(tokenizer, std::span<const std::string>(texts), options);
}

std::string to_string(const Tokenizer& tokenizer, const torch::Tensor& ids) {
  if (!ids.defined()) throw Error("to_string: the ids tensor is undefined");
  if (ids.dim() > 1)
    throw Error(fmt::format("to_string: expected a 1-D tensor of token ids, got shape {}", ids.sizes()));
  if (at::isFloatingType(ids.scalar_type()) || at::isComplexType(ids.scalar_type()) ||
      ids.scalar_type() == torch::kBool)
    throw Error(fmt::format("to_string: expected integer token ids, got dtype {}", c10::toString(ids.scalar_type())));
  const torch::Tensor flat = ids.reshape({-1}).to(torch::kCPU, torch::kLong).contiguous();
  return tokenizer.decode(
      std::span<const std::int64_t>(flat.data_ptr<std::int64_t>(), static_cast<std::size_t>(flat.numel())));
}

std::vector<std::string> to_str_tokens(const Tokenizer& tokenizer, std::span<const std::int64_t> ids) {
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (const std::int64_t id : ids) pieces.push_back(tokenizer.decode(std::span<const std::int64_t>(&id, 1)));
  return pieces;
}

std::vector<std::string> to_str_tokens(const Tokenizer& tokenizer, std::string_view text, bool prepend_bos) {
  return to_str_tokens(tokenizer, encode_with_bos(tokenizer, text, prepend_bos));
}

int64_t to_single_token(const Tokenizer& tokenizer, std::string_view text) {
  const std::vector<std::int64_t> ids = tokenizer.encode(text);
  if (ids.size() == 1) return ids.front();
  if (ids.empty()) throw Error(fmt::format("to_single_token: \"{}\" encodes to no token", text));
  std::vector<std::string> quoted;
  for (const std::string& piece : to_str_tokens(tokenizer, ids)) quoted.push_back(fmt::format("\"{}\"", piece));
  throw Error(fmt::format("to_single_token: \"{}\" is {} tokens, not one: [{}] (ids [{}])", text, ids.size(),
                          fmt::join(quoted, ", "), fmt::join(ids, ", ")));
}

}  // namespace arrakis
