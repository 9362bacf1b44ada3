// arrakis_sentencepiece: libsentencepiece behind a C interface (see sentencepiece_module.h for why).
#include "sentencepiece_module.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

struct arrakis_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void write_error(char* error, size_t error_size, const std::string& message) {
  if (!error || error_size == 0) return;
  const size_t n = std::min(error_size - 1, message.size());
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

}  // namespace

extern "C" {

arrakis_spm* arrakis_spm_load(const char* path, char* error, size_t error_size) {
  auto spm = std::make_unique<arrakis_spm>();
  const auto status = spm->processor.Load(path);
  if (!status.ok()) {
    write_error(error, error_size, status.ToString());
    return nullptr;
  }
  return spm.release();
}

void arrakis_spm_free(arrakis_spm* spm) { delete spm; }

int64_t arrakis_spm_encode(const arrakis_spm* spm, const char* text, size_t length, int32_t* ids, size_t capacity,
                           char* error, size_t error_size) {
  std::vector<int> out;
  const auto status = spm->processor.Encode(std::string_view(text, length), &out);
  if (!status.ok()) {
    write_error(error, error_size, status.ToString());
    return -1;
  }
  for (size_t i = 0; i < out.size() && i < capacity; ++i) ids[i] = out[i];
  return static_cast<int64_t>(out.size());
}

int64_t arrakis_spm_decode(const arrakis_spm* spm, const int32_t* ids, size_t count, char* text, size_t capacity,
                           char* error, size_t error_size) {
  std::vector<int> in(ids, ids + count);
  std::string out;
  const auto status = spm->processor.Decode(in, &out);
  if (!status.ok()) {
    write_error(error, error_size, status.ToString());
    return -1;
  }
  std::memcpy(text, out.data(), std::min(capacity, out.size()));
  return static_cast<int64_t>(out.size());
}

int64_t arrakis_spm_decode_surfaces(const arrakis_spm* spm, const int32_t* ids, size_t count, char* text,
                                    size_t capacity, int64_t* offsets, char* error, size_t error_size) {
  std::vector<int> in(ids, ids + count);
  const auto decoded = spm->processor.DecodeIdsAsImmutableProto(in);
  if (static_cast<size_t>(decoded.pieces_size()) != count) {
    write_error(error, error_size,
                "decoded " + std::to_string(count) + " ids into " + std::to_string(decoded.pieces_size()) + " pieces");
    return -1;
  }
  int64_t total = 0;
  offsets[0] = 0;
  for (size_t i = 0; i < count; ++i) {
    const std::string& surface = decoded.pieces(static_cast<int>(i)).surface();
    for (size_t j = 0; j < surface.size(); ++j)
      if (static_cast<size_t>(total) + j < capacity) text[total + j] = surface[j];
    total += static_cast<int64_t>(surface.size());
    offsets[i + 1] = total;
  }
  return total;
}

int32_t arrakis_spm_piece_size(const arrakis_spm* spm) { return spm->processor.GetPieceSize(); }

const char* arrakis_spm_id_to_piece(const arrakis_spm* spm, int32_t id, size_t* length) {
  const std::string& piece = spm->processor.IdToPiece(id);
  *length = piece.size();
  return piece.data();
}

int32_t arrakis_spm_piece_to_id(const arrakis_spm* spm, const char* piece, size_t length) {
  return spm->processor.PieceToId(std::string_view(piece, length));
}

int32_t arrakis_spm_bos_id(const arrakis_spm* spm) { return spm->processor.bos_id(); }
int32_t arrakis_spm_eos_id(const arrakis_spm* spm) { return spm->processor.eos_id(); }
int32_t arrakis_spm_unk_id(const arrakis_spm* spm) { return spm->processor.unk_id(); }
int32_t arrakis_spm_pad_id(const arrakis_spm* spm) { return spm->processor.pad_id(); }
int arrakis_spm_is_control(const arrakis_spm* spm, int32_t id) { return spm->processor.IsControl(id); }
int arrakis_spm_is_unknown(const arrakis_spm* spm, int32_t id) { return spm->processor.IsUnknown(id); }
int arrakis_spm_is_byte(const arrakis_spm* spm, int32_t id) { return spm->processor.IsByte(id); }

}  // extern "C"
