#pragma once
// Access to libsentencepiece through the arrakis_sentencepiece module, loaded on first use with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) so that sentencepiece's private protobuf copy cannot collide with LibTorch's
// (see src/sentencepiece_module/sentencepiece_module.h).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "sentencepiece_module/sentencepiece_module.h"
}

namespace arrakis::tok {

/// Why this build cannot read SentencePiece models ("" when it can): the module is missing or broken, or the build
/// has AddressSanitizer (which refuses RTLD_DEEPBIND).
std::string sentencepiece_unavailable_reason();

/// One loaded SentencePiece model.
class SentencePieceModel {
 public:
  /// arrakis::Error naming the file when it does not load (or the module cannot be found).
  explicit SentencePieceModel(const std::filesystem::path& path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  /// Each id's surface within the decoded text (see arrakis_spm_decode_surfaces).
  std::vector<std::string> decode_surfaces(const std::vector<int32_t>& ids) const;
  int32_t piece_size() const;
  std::string id_to_piece(int32_t id) const;
  int32_t piece_to_id(std::string_view piece) const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  bool is_control(int32_t id) const;
  bool is_unknown(int32_t id) const;
  bool is_byte(int32_t id) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  arrakis_spm* handle_ = nullptr;
};

}  // namespace arrakis::tok
