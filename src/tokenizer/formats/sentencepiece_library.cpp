#include "tokenizer/formats/sentencepiece_library.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

#include "arrakis/error.hpp"
#include "util/read_file.hpp"

namespace arrakis::tok {
namespace {

namespace fs = std::filesystem;

// The module's functions, resolved once.
struct Functions {
  decltype(&arrakis_spm_load) load;
  decltype(&arrakis_spm_free) free;
  decltype(&arrakis_spm_encode) encode;
  decltype(&arrakis_spm_decode) decode;
  decltype(&arrakis_spm_decode_surfaces) decode_surfaces;
  decltype(&arrakis_spm_piece_size) piece_size;
  decltype(&arrakis_spm_id_to_piece) id_to_piece;
  decltype(&arrakis_spm_piece_to_id) piece_to_id;
  decltype(&arrakis_spm_bos_id) bos_id;
  decltype(&arrakis_spm_eos_id) eos_id;
  decltype(&arrakis_spm_unk_id) unk_id;
  decltype(&arrakis_spm_pad_id) pad_id;
  decltype(&arrakis_spm_is_control) is_control;
  decltype(&arrakis_spm_is_unknown) is_unknown;
  decltype(&arrakis_spm_is_byte) is_byte;
};

// Where the module may be: $ARRAKIS_SENTENCEPIECE_MODULE, beside the running program, where the build put it.
[[maybe_unused]] std::vector<fs::path> module_candidates() {  // unused with AddressSanitizer
  std::vector<fs::path> out;
  if (const char* env = std::getenv("ARRAKIS_SENTENCEPIECE_MODULE"); env && *env) out.emplace_back(env);
  std::error_code ec;
  if (auto exe = fs::read_symlink("/proc/self/exe", ec); !ec)
    out.push_back(exe.parent_path() / fs::path(ARRAKIS_SENTENCEPIECE_MODULE).filename());
  out.emplace_back(ARRAKIS_SENTENCEPIECE_MODULE);
  return out;
}

// The module's functions once loaded, or why they cannot be.
struct Loaded {
  Functions functions{};
  std::string failure;
};

const Loaded& loaded() {
  static const Loaded result = [] {
    Loaded out;
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer refuses RTLD_DEEPBIND (it would bypass its malloc), and without it sentencepiece's protobuf
    // 3.14 binds to LibTorch's 3.21 and aborts: the sanitizer build (scripts/test.sh --sanitize) reads no
    // SentencePiece model, and the tests that need one skip there.
    out.failure =
        "SentencePiece models cannot be read in a build with AddressSanitizer (it refuses the "
        "RTLD_DEEPBIND that keeps sentencepiece's protobuf apart from LibTorch's)";
    return out;
#else
    void* library = nullptr;
    std::string tried;
    for (const auto& candidate : module_candidates()) {
      library = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (library) break;
      tried += fmt::format("\n  {}: {}", candidate.string(), ::dlerror());
    }
    if (!library) {
      out.failure = "cannot load the SentencePiece module (arrakis_sentencepiece):" + tried;
      return out;
    }
    auto resolve = [&](const char* name) {
      void* symbol = ::dlsym(library, name);
      if (!symbol && out.failure.empty()) out.failure = fmt::format("the SentencePiece module lacks {}", name);
      return symbol;
    };
    Functions& f = out.functions;
#define ARRAKIS_RESOLVE(field) f.field = reinterpret_cast<decltype(f.field)>(resolve("arrakis_spm_" #field))
    ARRAKIS_RESOLVE(load);
    ARRAKIS_RESOLVE(free);
    ARRAKIS_RESOLVE(encode);
    ARRAKIS_RESOLVE(decode);
    ARRAKIS_RESOLVE(decode_surfaces);
    ARRAKIS_RESOLVE(piece_size);
    ARRAKIS_RESOLVE(id_to_piece);
    ARRAKIS_RESOLVE(piece_to_id);
    ARRAKIS_RESOLVE(bos_id);
    ARRAKIS_RESOLVE(eos_id);
    ARRAKIS_RESOLVE(unk_id);
    ARRAKIS_RESOLVE(pad_id);
    ARRAKIS_RESOLVE(is_control);
    ARRAKIS_RESOLVE(is_unknown);
    ARRAKIS_RESOLVE(is_byte);
#undef ARRAKIS_RESOLVE
    return out;
#endif
  }();
  return result;
}

const Functions& functions() {
  const Loaded& l = loaded();
  if (!l.failure.empty()) throw Error(l.failure);
  return l.functions;
}

}  // namespace

std::string sentencepiece_unavailable_reason() { return loaded().failure; }

SentencePieceModel::SentencePieceModel(const fs::path& path) : path_(path) {
  // libsentencepiece reads the file itself: a FIFO would block it.
  refuse_special_file(path);
  if (const auto& why = loaded().failure; !why.empty())
    throw Error(fmt::format("{}: cannot be read: {}", path.string(), why));
  std::array<char, 512> error{};
  handle_ = functions().load(path.c_str(), error.data(), error.size());
  if (!handle_) throw Error(fmt::format("{}: not a SentencePiece model: {}", path.string(), error.data()));
}

SentencePieceModel::~SentencePieceModel() {
  if (handle_) functions().free(handle_);
}

std::vector<int32_t> SentencePieceModel::encode(std::string_view text) const {
  std::array<char, 512> error{};
  std::vector<int32_t> ids(text.size() + 8);
  int64_t n = functions().encode(handle_, text.data(), text.size(), ids.data(), ids.size(), error.data(), error.size());
  if (n > static_cast<int64_t>(ids.size())) {  // more ids than bytes: possible with byte pieces; ask again
    ids.resize(n);
    n = functions().encode(handle_, text.data(), text.size(), ids.data(), ids.size(), error.data(), error.size());
  }
  if (n < 0) throw Error(fmt::format("{}: encoding failed: {}", path_.string(), error.data()));
  ids.resize(n);
  return ids;
}

std::string SentencePieceModel::decode(const std::vector<int32_t>& ids) const {
  std::array<char, 512> error{};
  std::string text(ids.size() * 8 + 16, '\0');
  int64_t n = functions().decode(handle_, ids.data(), ids.size(), text.data(), text.size(), error.data(), error.size());
  if (n > static_cast<int64_t>(text.size())) {
    text.resize(n);
    n = functions().decode(handle_, ids.data(), ids.size(), text.data(), text.size(), error.data(), error.size());
  }
  if (n < 0) throw Error(fmt::format("{}: decoding failed: {}", path_.string(), error.data()));
  text.resize(n);
  return text;
}

std::vector<std::string> SentencePieceModel::decode_surfaces(const std::vector<int32_t>& ids) const {
  std::array<char, 512> error{};
  std::vector<int64_t> offsets(ids.size() + 1);
  std::string text(ids.size() * 8 + 16, '\0');
  auto call = [&] {
    return functions().decode_surfaces(handle_, ids.data(), ids.size(), text.data(), text.size(), offsets.data(),
                                       error.data(), error.size());
  };
  int64_t n = call();
  if (n > static_cast<int64_t>(text.size())) {
    text.resize(n);
    n = call();
  }
  if (n < 0) throw Error(fmt::format("{}: decoding failed: {}", path_.string(), error.data()));
  std::vector<std::string> surfaces;
  for (std::size_t i = 0; i < ids.size(); ++i) surfaces.push_back(text.substr(offsets[i], offsets[i + 1] - offsets[i]));
  return surfaces;
}

int32_t SentencePieceModel::piece_size() const { return functions().piece_size(handle_); }

std::string SentencePieceModel::id_to_piece(int32_t id) const {
  size_t length = 0;
  const char* piece = functions().id_to_piece(handle_, id, &length);
  return std::string(piece, length);
}

int32_t SentencePieceModel::piece_to_id(std::string_view piece) const {
  return functions().piece_to_id(handle_, piece.data(), piece.size());
}

int32_t SentencePieceModel::bos_id() const { return functions().bos_id(handle_); }
int32_t SentencePieceModel::eos_id() const { return functions().eos_id(handle_); }
int32_t SentencePieceModel::unk_id() const { return functions().unk_id(handle_); }
int32_t SentencePieceModel::pad_id() const { return functions().pad_id(handle_); }
bool SentencePieceModel::is_control(int32_t id) const { return functions().is_control(handle_, id) != 0; }
bool SentencePieceModel::is_unknown(int32_t id) const { return functions().is_unknown(handle_, id) != 0; }
bool SentencePieceModel::is_byte(int32_t id) const { return functions().is_byte(handle_, id) != 0; }

}  // namespace arrakis::tok
