// llama2.c's tokenizer.bin format, with the stories260K tokenizer (../shared/models/stories260K/tok512.bin):
//  - decoding the ids that greedy decoding of the stories260K model gives (../shared/README.md);
//  - encoding against a literal transcription of llama2.c's run.c encode() (the pair scan, once per merge), which
//    the tokenizer implements with a heap: both must merge in the same order on any text;
//  - its special tokens.
// Finding the file in a folder and the errors of files that do not parse: unit/test_tokenizer_llama2c.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "arrakis/tokenizer/token_batch.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

fs::path stories_dir() { return arrakis::test::shared_dir() / "models" / "stories260K"; }

// The reference: greedy decoding of stories260K from BOS (../shared/README.md).
const Ids kGreedyIds = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};

struct Vocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
};

// tok512.bin read directly: int32 max_token_length, then per token float32 score, int32 length, bytes.
Vocab read_vocab(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  Vocab vocab;
  int32_t max_length = 0;
  in.read(reinterpret_cast<char*>(&max_length), 4);
  float score = 0;
  int32_t length = 0;
  while (in.read(reinterpret_cast<char*>(&score), 4) && in.read(reinterpret_cast<char*>(&length), 4)) {
    std::string piece(static_cast<std::size_t>(length), '\0');
    in.read(piece.data(), length);
    vocab.pieces.push_back(piece);
    vocab.scores.push_back(score);
  }
  return vocab;
}

// run.c's encode(text, bos = 0, eos = 0), transcribed step by step: dummy prefix, code points or their bytes (+3),
// then the scan for the best-scoring pair (strictly greater, so the leftmost of equals), once per merge.
Ids run_c_encode(const Vocab& vocab, const std::string& text) {
  std::map<std::string, int64_t> lookup;
  for (std::size_t id = 0; id < vocab.pieces.size(); ++id) lookup.emplace(vocab.pieces[id], static_cast<int64_t>(id));
  const auto find = [&](const std::string& s) -> int64_t {
    const auto it = lookup.find(s);
    return it == lookup.end() ? -1 : it->second;
  };
  Ids tokens;
  if (!text.empty()) tokens.push_back(find(" "));
  std::string buffer;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) buffer.clear();
    buffer += text[i];
    const bool next_is_continuation = i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (next_is_continuation && buffer.size() < 4) continue;
    const int64_t id = find(buffer);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (const char b : buffer) tokens.push_back(static_cast<unsigned char>(b) + 3);
    }
    buffer.clear();
  }
  while (true) {
    float best_score = -1e10f;
    int64_t best_id = -1;
    std::size_t best_index = 0;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int64_t id = find(vocab.pieces[tokens[i]] + vocab.pieces[tokens[i + 1]]);
      if (id != -1 && vocab.scores[id] > best_score) {
        best_score = vocab.scores[id];
        best_id = id;
        best_index = i;
      }
    }
    if (best_id == -1) break;
    tokens[best_index] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }
  return tokens;
}

const arrakis::Tokenizer& stories() {
  static const std::shared_ptr<arrakis::Tokenizer> tokenizer = arrakis::load_tokenizer(stories_dir());
  return *tokenizer;
}

}  // namespace

TEST(TokenizerLlama2c, DecodesTheGreedyOutputOfStories260K) {
  ARRAKIS_REQUIRE_SHARED();
  EXPECT_EQ(stories().vocab_size(), 512);
  EXPECT_NE(stories().describe().find("tok512.bin"), std::string::npos) << stories().describe();
  EXPECT_NE(stories().describe().find("llama2.c"), std::string::npos) << stories().describe();
  // run.c drops the leading space of the piece after BOS; the reference text starts with "Once upon a time".
  const std::string text = stories().decode(kGreedyIds, /*skip_special=*/true);
  EXPECT_EQ(text, "Once upon a time, there was a little gir");
  EXPECT_EQ(stories().decode(kGreedyIds), "<s>" + text);
  // Without BOS before it the first piece keeps its space, as in run.c.
  EXPECT_EQ(stories().decode(Ids(kGreedyIds.begin() + 1, kGreedyIds.end())), " " + text);
  EXPECT_EQ(arrakis::to_str_tokens(stories(), std::span<const int64_t>(kGreedyIds).first(3)),
            (std::vector<std::string>{"<s>", " Once", " upon"}));
}

TEST(TokenizerLlama2c, EncodesAsLlama2cRunC) {
  ARRAKIS_REQUIRE_SHARED();
  // The dummy prefix " " (410) and the characters' tokens, merged by score into " Once" (403), " upon" (407),
  // " a" (261), " time" (378): what run_c_encode below (run.c transcribed) gives, what decodes back to the text,
  // and the first four tokens stories260K itself generates after BOS.
  EXPECT_EQ(stories().encode("Once upon a time"), (Ids{403, 407, 261, 378}));
  EXPECT_EQ(stories().encode(""), Ids{});

  // The greedy output re-encodes to the same ids (BOS aside) and round-trips.
  const std::string generated = stories().decode(kGreedyIds, /*skip_special=*/true);
  EXPECT_EQ(stories().encode(generated), Ids(kGreedyIds.begin() + 1, kGreedyIds.end()));
  const std::string sentence = "Once upon a time, there was a little girl named Lily.";
  const auto batch = arrakis::to_tokens(stories(), std::string_view(sentence));  // BOS first
  EXPECT_EQ(batch.input_ids[0][0].item<int64_t>(), 1);
  EXPECT_EQ(arrakis::to_string(stories(), batch.input_ids[0]).substr(3), sentence);  // after "<s>"

  const Vocab vocab = read_vocab(stories_dir() / "tok512.bin");
  ASSERT_EQ(vocab.pieces.size(), 512u);
  EXPECT_EQ(run_c_encode(vocab, "Once upon a time"), (Ids{403, 407, 261, 378}));
  for (const std::string& text : std::vector<std::string>{
           sentence, std::string("  two  spaces\tand a tab\nnew line"), std::string("Ünïcödé 日本語 🙂 é"),
           std::string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), std::string("\xff\xfe invalid \xe2\x82"),
           std::string("Lily and Ben went to the park. They saw a big dog! \"Wow,\" said Lily."), std::string(" "),
           std::string("x")}) {
    const Ids ids = stories().encode(text);
    EXPECT_EQ(ids, run_c_encode(vocab, text)) << text;
    Ids with_bos = {1};
    with_bos.insert(with_bos.end(), ids.begin(), ids.end());
    if (text.find('\xff') == std::string::npos) {
      EXPECT_EQ(stories().decode(with_bos, /*skip_special=*/true), text);
    }
  }
}

TEST(TokenizerLlama2c, SpecialTokensAreLlama2cs) {
  ARRAKIS_REQUIRE_SHARED();
  const arrakis::SpecialTokens& special = stories().special_tokens();
  EXPECT_EQ(special.bos, 1);
  EXPECT_EQ(special.eos, 2);
  EXPECT_EQ(special.unk, 0);
  EXPECT_EQ(special.pad, std::nullopt);
  EXPECT_EQ(stories().id_to_token(1), "<s>");  // the file spells it "\n<s>\n"
  EXPECT_EQ(stories().token_to_id("</s>"), 2);
  EXPECT_EQ(stories().id_to_token(403), " Once");
  EXPECT_EQ(stories().token_to_id(" Once"), 403);
  EXPECT_EQ(stories().decode(Ids{3 + 'A', 3 + 0xE2, 3 + 0x98, 3 + 0x83}), "A\u2603");  // byte tokens are bytes
  EXPECT_EQ(stories().decode(Ids{1, 2}, /*skip_special=*/true), "");
  const std::string message = arrakis::test::error_of([&] { stories().decode(Ids{512}); });
  EXPECT_NE(message.find("512"), std::string::npos) << message;
}
