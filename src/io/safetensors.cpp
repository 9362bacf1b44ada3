#include "arrakis/io/safetensors.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <cstdint>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "arrakis/error.hpp"
#include "io/mapped_file.hpp"
#include "util/json_text.hpp"

namespace arrakis {
namespace {

using json = nlohmann::json;

// A header larger than this is certainly corrupt (real headers of 100B-parameter checkpoints are a few MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeInfo {
  const char* name;
  torch::Dtype dtype;
  std::size_t size;
};

// Every safetensors dtype LibTorch 1.13 has. U16/U32/U64 and the F8 types have no LibTorch 1.13 equivalent.
constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<uint64_t>(p[i]);
  return v;
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const json& value) {
  auto bad = [&](const std::string& what) {
    return Error(fmt::format("{}: tensor '{}' in the header: {}", file, name, what));
  };
  if (!value.is_object()) throw bad("entry is not an object");
  SafetensorsEntry e;
  e.name = name;
  if (!value.contains("dtype") || !value["dtype"].is_string()) throw bad("no string 'dtype'");
  e.dtype = value["dtype"].get<std::string>();
  if (!value.contains("shape") || !value["shape"].is_array()) throw bad("no 'shape' array");
  for (const auto& d : value["shape"]) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw bad("shape " + value["shape"].dump() + " must hold non-negative integers below 2^63");
    e.shape.push_back(d.get<int64_t>());
  }
  const auto& off = value.contains("data_offsets") ? value["data_offsets"] : json();
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    throw bad("'data_offsets' is not a pair of non-negative integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin) throw bad(fmt::format("data_offsets [{}, {}] end before they begin", e.begin, e.end));
  const DtypeInfo* dt = find_dtype(e.dtype);
  if (!dt) throw bad(fmt::format("dtype '{}' is not supported (LibTorch has no equivalent)", e.dtype));
  // The element count and the byte size must fit in 63 bits: a product that wraps around could otherwise match a
  // small span ([1, 2^61 + 3] of 8-byte elements "is" 24 bytes modulo 2^64).
  uint64_t numel = 1;
  bool empty = false;
  for (auto d : e.shape) empty = empty || d == 0;
  for (auto d : e.shape) {
    if (empty) break;
    if (numel > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(d))
      throw bad("shape " + value["shape"].dump() + " holds more elements than fit in 63 bits");
    numel *= static_cast<uint64_t>(d);
  }
  if (empty) numel = 0;
  if (numel > static_cast<uint64_t>(INT64_MAX) / dt->size)
    throw bad(fmt::format("shape {} x {} bytes is more bytes than fit in 63 bits", value["shape"].dump(), e.dtype));
  if (numel * dt->size != e.end - e.begin)
    throw bad(fmt::format("shape {} x {} bytes ({}) = {} bytes, but data_offsets [{}, {}] span {} bytes",
                          value["shape"].dump(), e.dtype, dt->size, numel * dt->size, e.begin, e.end, e.end - e.begin));
  return e;
}

}  // namespace

std::string safetensors_dtype_name(torch::Dtype dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.name;
  throw Error(fmt::format("dtype {} cannot be written to safetensors", c10::toString(dtype)));
}

torch::Dtype safetensors_dtype(const std::string& name) {
  if (const auto* d = find_dtype(name)) return d->dtype;
  throw Error(fmt::format("safetensors dtype '{}' is not supported", name));
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  auto result = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  auto mapped = MappedFile::open(path);
  result->source_ = path;
  result->bytes_ = mapped->data();
  result->size_ = mapped->size();
  result->owner_ = std::move(mapped);
  result->parse();
  return result;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(std::span<const std::byte> bytes,
                                                             const std::string& source) {
  auto result = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  // 64-byte aligned heap copy: tensor views stay aligned for their dtype, and in-place edits are legal.
  auto buffer =
      std::shared_ptr<std::byte>(static_cast<std::byte*>(std::aligned_alloc(64, (bytes.size() + 63) / 64 * 64)),
                                 [](std::byte* p) { std::free(p); });
  if (!buffer) throw Error(fmt::format("{}: out of memory copying {} bytes", source, bytes.size()));
  std::memcpy(buffer.get(), bytes.data(), bytes.size());
  result->source_ = source;
  result->bytes_ = buffer.get();
  result->size_ = bytes.size();
  result->owner_ = std::move(buffer);
  result->parse();
  return result;
}

void SafetensorsFile::parse() {
  const std::string file = source_.string();
  const std::size_t size = size_;
  const std::byte* data = bytes_;

  if (size < 8)
    throw Error(
        fmt::format("{}: truncated safetensors file ({} bytes; the 8-byte header length is missing)", file, size));
  const uint64_t header_len = read_u64_le(data);
  if (header_len > size - 8)
    throw Error(
        fmt::format("{}: truncated or corrupt safetensors file: the header length is {} bytes but only {} "
                    "bytes follow it",
                    file, header_len, size - 8));
  if (header_len > kMaxHeaderBytes)
    throw Error(fmt::format("{}: header length {} is implausibly large (corrupt file?)", file, header_len));

  const json header = parse_json_text(std::string_view(reinterpret_cast<const char*>(data + 8), header_len),
                                      fmt::format("{}: the safetensors header", file));
  if (!header.is_object()) throw Error(fmt::format("{}: the safetensors header is not a JSON object", file));

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(fmt::format("{}: '__metadata__' is not an object", file));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) throw Error(fmt::format("{}: metadata '{}' is not a string", file, mk));
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries_.push_back(parse_entry(file, key, value));
  }

  // The data section must be covered exactly: ranges inside it, in order, with no overlap and no hole.
  auto& entries = entries_;
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const uint64_t data_len = size - 8 - header_len;
  uint64_t expected = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto& e : entries) {
    if (e.end > data_len)
      throw Error(
          fmt::format("{}: tensor '{}' has data_offsets [{}, {}] past the end of the data ({} bytes): "
                      "the file is truncated or its header is corrupt",
                      file, e.name, e.begin, e.end, data_len));
    if (e.begin < expected)
      throw Error(fmt::format("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", file, previous->name,
                              previous->begin, previous->end, e.name, e.begin, e.end));
    if (e.begin > expected)
      throw Error(
          fmt::format("{}: bytes [{}, {}) before tensor '{}' belong to no tensor", file, expected, e.begin, e.name));
    expected = e.end;
    previous = &e;
  }
  if (expected != data_len)
    throw Error(
        fmt::format("{}: the data section has {} bytes but its tensors cover only {}", file, data_len, expected));

  for (std::size_t i = 0; i < entries.size(); ++i) index_[entries[i].name] = i;
  data_start_ = 8 + header_len;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) > 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error(fmt::format("{}: no tensor named '{}'", path().string(), name));
  return entries_[it->second];
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto& e = entry(name);
  const DtypeInfo* dt = find_dtype(e.dtype);
  auto options = torch::TensorOptions().dtype(dt->dtype);
  std::byte* ptr = bytes_ + data_start_ + e.begin;
  if (reinterpret_cast<uintptr_t>(ptr) % dt->size != 0) {
    // Misaligned for its dtype (legal in the format, rare in practice): copy rather than view.
    auto t = torch::empty(e.shape, options);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), ptr, e.end - e.begin);  // an empty tensor has no data pointer
    return t;
  }
  auto keep_alive = owner_;
  return torch::from_blob(
      ptr, e.shape, [keep_alive](void*) mutable { keep_alive.reset(); }, options);
}

void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw Error(fmt::format("{}: '{}' is not a valid tensor name", path.string(), name));
    if (!seen.insert(name).second) throw Error(fmt::format("{}: tensor name '{}' appears twice", path.string(), name));
    if (!t.defined()) throw Error(fmt::format("{}: tensor '{}' is undefined", path.string(), name));
    std::string dtype;
    try {
      dtype = safetensors_dtype_name(t.scalar_type());
    } catch (const Error& e) {
      throw Error(fmt::format("{}: tensor '{}': {}", path.string(), name, e.what()));
    }
    auto c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned

  auto tmp = path;
  tmp += fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write {}", tmp.string()));
    unsigned char len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : contiguous)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp);
      throw Error(fmt::format("writing {} failed (disk full?)", tmp.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error(fmt::format("cannot move {} into place as {}: {}", tmp.string(), path.string(), ec.message()));
  }
}

NamedTensors load_safetensors(const std::filesystem::path& path) {
  auto file = SafetensorsFile::open(path);
  NamedTensors out;
  for (const auto& name : file->names()) out.emplace_back(name, file->tensor(name));
  return out;
}

}  // namespace arrakis
