#include "arrakis/io/torch_checkpoint.hpp"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "arrakis/error.hpp"
#include "io/mapped_file.hpp"
#include "io/pickle_reader.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;
using caffe2::serialize::PyTorchStreamReader;

// PyTorchStreamReader reads the zip directory through the same mapping the tensors view: one view of the file.
class MappedReadAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit MappedReadAdapter(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {}
  std::size_t size() const override { return file_->size(); }
  // A short read zero-fills the rest: LibTorch reads a local header without checking the count it got.
  std::size_t read(uint64_t pos, void* buf, std::size_t n, const char* /*what*/) const override {
    const std::size_t got =
        pos >= file_->size() ? 0 : static_cast<std::size_t>(std::min<uint64_t>(n, file_->size() - pos));
    if (got) std::memcpy(buf, file_->data() + pos, got);
    std::memset(static_cast<char*>(buf) + got, 0, n - got);
    return got;
  }

 private:
  std::shared_ptr<const MappedFile> file_;
};

// LibTorch reports archive faults as c10::Error with a backtrace; keep its first line and name the file.
template <class Call>
auto zip_call(const std::string& where, const std::string& doing, Call&& call) {
  try {
    return call();
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    message = message.substr(0, message.find('\n'));
    throw Error(where + ": " + doing + ": " + message);
  }
}

// ---- Viewing a record where it lies -----------------------------------------------------------------------------
// torch.save stores every record uncompressed and 64-byte aligned, so its bytes can be used in the mapping as they are.
// LibTorch 1.13's reader gives a record's data offset but not its size or compression, so both are read from the zip
// local header in front of the data and, when the writer streamed the record (flag bit 3, as torch.save's does), from
// the data descriptor right after it. Anything unusual answers "not viewable", and the record is read instead.

constexpr uint64_t kLocalHeaderSignature = 0x04034b50;
constexpr uint64_t kDataDescriptorSignature = 0x08074b50;
constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kMaxField = 0xFFFF;   // zip name and extra-field lengths are 16-bit
constexpr uint64_t kZip64 = 0xFFFFFFFF;  // a 32-bit size that stands for "see the ZIP64 extra field"
constexpr uint64_t kViewAlignment = 16;  // enough for every element type; torch.save's records are 64-aligned

class ZipBytes {
 public:
  explicit ZipBytes(const MappedFile& file) : bytes_(file.data(), file.size()) {}
  bool has(uint64_t at, uint64_t n) const { return at <= bytes_.size() && n <= bytes_.size() - at; }
  uint64_t le(uint64_t at, int n) const {  // callers check has() first
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<uint64_t>(bytes_[at + i]);
    return v;
  }
  std::string_view text(uint64_t at, uint64_t n) const {
    return {reinterpret_cast<const char*>(bytes_.data()) + at, static_cast<std::size_t>(n)};
  }

 private:
  std::span<const std::byte> bytes_;
};

// The local header whose data starts at `data_offset` and whose name is "<prefix>/<record>". The prefix folder
// (archive/, pytorch_model/, ...) is not exposed by the reader, so the header is found by walking back over the name
// and extra field, each shorter than 64 KiB; only a header whose lengths lead exactly to `data_offset` matches.
std::optional<uint64_t> find_local_header(const ZipBytes& zip, uint64_t data_offset, std::string_view record) {
  for (uint64_t back = kLocalHeaderSize + record.size() + 2; back <= kLocalHeaderSize + 2 * kMaxField; ++back) {
    if (back > data_offset) break;
    const uint64_t at = data_offset - back;
    if (zip.le(at, 4) != kLocalHeaderSignature) continue;
    const uint64_t name_length = zip.le(at + 26, 2);
    if (kLocalHeaderSize + name_length + zip.le(at + 28, 2) != back || name_length <= record.size()) continue;
    const std::string_view name = zip.text(at + kLocalHeaderSize, name_length);
    if (name.ends_with(record) && name[name.size() - record.size() - 1] == '/') return at;
  }
  return std::nullopt;
}

// The sizes in a ZIP64 extra-field block (id 1), which holds only the sizes whose 32-bit fields read 0xFFFFFFFF.
bool read_zip64_sizes(const ZipBytes& zip, uint64_t extra, uint64_t extra_length, uint64_t& size,
                      uint64_t& compressed) {
  for (uint64_t at = extra; at + 4 <= extra + extra_length;) {
    const uint64_t id = zip.le(at, 2);
    const uint64_t length = zip.le(at + 2, 2);
    at += 4;
    if (at + length > extra + extra_length) return false;
    if (id == 1) {
      uint64_t field = at;
      for (uint64_t* value : {&size, &compressed}) {
        if (*value != kZip64) continue;
        if (field + 8 > at + length) return false;
        *value = zip.le(field, 8);
        field += 8;
      }
      return true;
    }
    at += length;
  }
  return false;
}

// The byte size of the record at `data_offset` when it can be viewed in place; `expected` is what the pickle declares.
std::optional<uint64_t> stored_record_size(const ZipBytes& zip, uint64_t data_offset, std::string_view record,
                                           uint64_t expected) {
  if (!zip.has(0, data_offset) || data_offset % kViewAlignment != 0) return std::nullopt;
  const auto header = find_local_header(zip, data_offset, record);
  if (!header) return std::nullopt;
  const uint64_t flags = zip.le(*header + 6, 2);
  if (zip.le(*header + 8, 2) != 0 || (flags & 1)) return std::nullopt;  // compressed or encrypted
  if (flags & 8) {  // streamed: the sizes follow the data, in 32-bit or (ZIP64) 64-bit fields
    const uint64_t at = data_offset + expected;
    if (!zip.has(data_offset, expected) || !zip.has(at, 16) || zip.le(at, 4) != kDataDescriptorSignature)
      return std::nullopt;
    if (zip.le(at + 8, 4) == expected && zip.le(at + 12, 4) == expected) return expected;
    if (zip.has(at, 24) && zip.le(at + 8, 8) == expected && zip.le(at + 16, 8) == expected) return expected;
    return std::nullopt;
  }
  uint64_t compressed = zip.le(*header + 18, 4);
  uint64_t size = zip.le(*header + 22, 4);
  if (compressed == kZip64 || size == kZip64) {
    const uint64_t name_length = zip.le(*header + 26, 2);
    const uint64_t extra_length = zip.le(*header + 28, 2);
    if (!read_zip64_sizes(zip, *header + kLocalHeaderSize + name_length, extra_length, size, compressed))
      return std::nullopt;
  }
  if (compressed != size || !zip.has(data_offset, size)) return std::nullopt;
  return size;
}

// What the central directory declares for each record: LibTorch's reader allocates `size` bytes to read one, so a
// hostile archive is refused on these numbers before anything is allocated; `crc` is checked against the bytes read.
struct DeclaredRecord {
  uint64_t size = 0, compressed = 0, method = 0, crc = 0;
};

// Records by their name below the archive's top folder ("data.pkl", "data/0"): read once, so that looking up every
// storage stays linear in the number of records. Empty when there is no end record (LibTorch's reader then refuses
// the file); an entry that cannot be read is an error, so that no record LibTorch would read goes unchecked.
std::unordered_map<std::string, DeclaredRecord> central_directory(const ZipBytes& zip, uint64_t file_size,
                                                                  const std::string& where) {
  constexpr uint64_t kEndSignature = 0x06054b50, kZip64EndSignature = 0x06064b50, kLocatorSignature = 0x07064b50;
  constexpr uint64_t kEntrySignature = 0x02014b50;
  std::unordered_map<std::string, DeclaredRecord> records;
  // The end record: 22 bytes plus a comment of up to 64 KiB, at the end of the file.
  std::optional<uint64_t> end;
  for (uint64_t back = 22; back <= 22 + kMaxField && back <= file_size; ++back)
    if (zip.le(file_size - back, 4) == kEndSignature) {
      end = file_size - back;
      break;
    }
  if (!end) return records;
  uint64_t entries = zip.le(*end + 10, 2), directory = zip.le(*end + 16, 4);
  if ((directory == kZip64 || entries == 0xFFFF) && *end >= 20 && zip.le(*end - 20, 4) == kLocatorSignature) {
    const uint64_t zip64_end = zip.le(*end - 20 + 8, 8);
    if (!zip.has(zip64_end, 56) || zip.le(zip64_end, 4) != kZip64EndSignature) return records;
    entries = zip.le(zip64_end + 32, 8);
    directory = zip.le(zip64_end + 48, 8);
  }
  uint64_t at = directory;
  for (uint64_t i = 0; i < entries && zip.has(at, 46) && zip.le(at, 4) == kEntrySignature; ++i) {
    const uint64_t name_length = zip.le(at + 28, 2), extra_length = zip.le(at + 30, 2);
    const uint64_t comment_length = zip.le(at + 32, 2);
    if (!zip.has(at + 46, name_length + extra_length + comment_length))
      throw Error(fmt::format("{}: the zip's central directory entry {} runs past the end of the file", where, i));
    const std::string_view name = zip.text(at + 46, name_length);
    DeclaredRecord r{zip.le(at + 24, 4), zip.le(at + 20, 4), zip.le(at + 10, 2), zip.le(at + 16, 4)};
    if ((r.size == kZip64 || r.compressed == kZip64) &&
        !read_zip64_sizes(zip, at + 46 + name_length, extra_length, r.size, r.compressed))
      throw Error(fmt::format("{}: the zip entry '{}' marks its sizes as ZIP64 but carries no ZIP64 sizes", where,
                              std::string(name)));
    if (const auto slash = name.find('/'); slash != std::string_view::npos)
      records.emplace(std::string(name.substr(slash + 1)), r);  // the first entry of a name wins, as in miniz
    at += 46 + name_length + extra_length + comment_length;
  }
  return records;
}

// A storage whose bytes are the mapping itself; each storage keeps the mapping alive through its deleter.
c10::Storage view_storage(const std::shared_ptr<MappedFile>& file, uint64_t offset, uint64_t size) {
  auto owner = std::make_unique<std::shared_ptr<MappedFile>>(file);
  at::DataPtr data(
      file->data() + offset, owner.get(),
      [](void* context) { delete static_cast<std::shared_ptr<MappedFile>*>(context); }, at::kCPU);
  owner.release();  // now owned by `data`
  return c10::Storage(c10::Storage::use_byte_size_t(), static_cast<int64_t>(size), std::move(data), nullptr, false);
}

// ---- Checking a tensor against its storage ----------------------------------------------------------------------

std::string shape_text(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

// How many elements of its storage a tensor reaches: offset + 1 + sum((size - 1) * stride), or the offset when it is
// empty. nullopt when the description is invalid or overflows.
std::optional<int64_t> elements_reached(const detail::PickledTensor& t) {
  if (t.sizes.size() != t.strides.size() || t.storage_offset < 0) return std::nullopt;
  int64_t reach = t.storage_offset;
  bool empty = false;
  for (std::size_t i = 0; i < t.sizes.size(); ++i) {
    if (t.sizes[i] < 0 || t.strides[i] < 0) return std::nullopt;
    empty = empty || t.sizes[i] == 0;
  }
  if (empty) return reach;
  for (std::size_t i = 0; i < t.sizes.size(); ++i) {
    int64_t span = 0;
    if (__builtin_mul_overflow(t.sizes[i] - 1, t.strides[i], &span) || __builtin_add_overflow(reach, span, &reach))
      return std::nullopt;
  }
  if (__builtin_add_overflow(reach, 1, &reach)) return std::nullopt;
  return reach;
}

class TorchCheckpoint final : public TorchCheckpointFile {
 public:
  struct Entry {
    std::string name;
    c10::ScalarType dtype;
    c10::Storage storage;
    int64_t storage_offset;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
  };

  TorchCheckpoint(fs::path path, std::vector<Entry> entries) : path_(std::move(path)), entries_(std::move(entries)) {
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
  }

  const fs::path& path() const override { return path_; }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  bool contains(const std::string& name) const override { return index_.contains(name); }
  torch::Tensor tensor(const std::string& name) const override {
    const auto found = index_.find(name);
    if (found == index_.end()) throw Error(path_.string() + ": no tensor named '" + name + "'");
    const Entry& e = entries_[found->second];
    // A fresh tensor over the shared storage: tensors of one storage share it, as they did when saved.
    auto tensor = torch::empty({0}, torch::TensorOptions().dtype(e.dtype));
    tensor.set_(e.storage, e.storage_offset, e.sizes, e.strides);
    return tensor;
  }

 private:
  fs::path path_;
  std::vector<Entry> entries_;  // in state-dict order
  std::unordered_map<std::string, std::size_t> index_;
};

// One storage record, viewed in the mapping or read (inflated) by LibTorch's reader.
struct LoadedStorage {
  c10::Storage storage;
  uint64_t bytes = 0;
};

class ArchiveLoader {
 public:
  explicit ArchiveLoader(const fs::path& path)
      : path_(path), where_(path.string()), file_(MappedFile::open(path)), zip_(*file_) {
    reject_legacy_format();
    directory_ = central_directory(zip_, file_->size(), where_);
    check_declared_pickle_size();  // before LibTorch's reader, which may allocate what the directory declares
    reader_ = zip_call(where_, "not a readable torch.save archive", [&] {
      return std::make_unique<PyTorchStreamReader>(std::make_shared<MappedReadAdapter>(file_));
    });
  }

  std::shared_ptr<TorchCheckpointFile> load() {
    check_byte_order();
    if (!zip_call(where_, "reading the archive", [&] { return reader_->hasRecord("data.pkl"); }))
      throw Error(where_ + ": the archive has no data.pkl, so it is not a torch.save checkpoint");
    require_listed("data.pkl");
    auto [pickle, pickle_size] = zip_call(where_, "reading data.pkl", [&] { return reader_->getRecord("data.pkl"); });
    check_crc("data.pkl", pickle.get(), pickle_size);
    const std::span<const std::byte> pickle_bytes(static_cast<const std::byte*>(pickle.get()), pickle_size);
    std::vector<TorchCheckpoint::Entry> entries;
    for (auto& t : detail::read_state_dict_pickle(pickle_bytes, where_ + ": data.pkl")) {
      const LoadedStorage& storage = storage_for(t);
      check_bounds(t, storage);
      entries.push_back({std::move(t.name), t.storage.dtype, storage.storage, t.storage_offset, std::move(t.sizes),
                         std::move(t.strides)});
    }
    return std::make_shared<TorchCheckpoint>(path_, std::move(entries));
  }

 private:
  // torch.save before 1.6 wrote a bare pickle stream, not a zip archive.
  void reject_legacy_format() const {
    if (file_->size() >= 2 && std::to_integer<int>(file_->data()[0]) == 0x80 &&
        std::to_integer<int>(file_->data()[1]) <= 5)
      throw Error(where_ +
                  ": written in torch.save's legacy format (before torch 1.6, not a zip archive), which is "
                  "not supported: re-save it with a current torch");
  }

  // The pickle is read into memory: its declared size may not exceed what the file could hold (torch.save stores it
  // uncompressed; deflate expands at most 1032-fold) nor 256 MiB (a state dict's pickle is kilobytes to megabytes).
  void check_declared_pickle_size() const {
    constexpr uint64_t kMaxPickleBytes = uint64_t{256} << 20, kMaxDeflateRatio = 1032;
    const auto found = directory_.find("data.pkl");
    if (found == directory_.end()) return;  // LibTorch's reader finds it another way: it checks sizes against the file
    const DeclaredRecord* declared = &found->second;
    const uint64_t could_hold = declared->method == 0 ? declared->compressed : declared->compressed * kMaxDeflateRatio;
    if (declared->size > kMaxPickleBytes || declared->size > could_hold || declared->compressed > file_->size())
      throw Error(
          fmt::format("{}: data.pkl declares {} bytes ({} stored, method {}) in a {}-byte file: refused (at "
                      "most {} bytes, and no more than its stored bytes can hold)",
                      where_, declared->size, declared->compressed, declared->method, file_->size(), kMaxPickleBytes));
  }

  // Records hold the bytes of the machine that saved them; newer torch.save notes which order that was.
  void check_byte_order() const {
    if (!zip_call(where_, "reading the archive", [&] { return reader_->hasRecord("byteorder"); })) return;
    auto [data, size] = zip_call(where_, "reading byteorder", [&] { return reader_->getRecord("byteorder"); });
    const std::string_view order(static_cast<const char*>(data.get()), size);
    if (order != "little")
      throw Error(where_ + ": saved with byte order '" + std::string(order) + "'; only little-endian is supported");
  }

  // LibTorch's reader allocates a record's declared size before reading it, so only records whose sizes were
  // checked here (listed in the directory as read above) are handed to it.
  void require_listed(const std::string& record) const {
    if (!directory_.contains(record))
      throw Error(fmt::format("{}: record '{}' is not listed in the zip's central directory (damaged archive?)", where_,
                              record));
  }

  // A record's bytes against the CRC-32 its directory entry declares (zlib's crc32): a damaged download or an edited
  // record is an error, not silently different weights. Records the directory does not list were found by LibTorch.
  void check_crc(const std::string& record, const void* data, uint64_t size) const {
    const auto found = directory_.find(record);
    if (found == directory_.end()) return;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < size;) {  // zlib takes 32-bit lengths
      const auto n = static_cast<uInt>(std::min<uint64_t>(size - done, uint64_t{1} << 30));
      crc = crc32(crc, static_cast<const Bytef*>(data) + done, n);
      done += n;
    }
    if (crc != found->second.crc)
      throw Error(
          fmt::format("{}: record '{}' is damaged: its CRC-32 is {:08x}, the archive's directory declares "
                      "{:08x} (a truncated or altered download?)",
                      where_, record, crc, found->second.crc));
  }

  const LoadedStorage& storage_for(const detail::PickledTensor& t) {
    if (auto found = storages_.find(t.storage.key); found != storages_.end()) return found->second;
    const std::string record = "data/" + t.storage.key;
    const std::string about = "tensor '" + t.name + "': storage record '" + record + "'";
    if (!zip_call(where_, about, [&] { return reader_->hasRecord(record); }))
      throw Error(where_ + ": " + about + " is missing from the archive");
    const uint64_t declared = declared_bytes(t);
    // LibTorch's reader allocates what the directory declares before reading a record: torch.save writes a storage's
    // bytes exactly, so a record declaring more than its storage needs is refused before that allocation.
    if (const auto entry = directory_.find(record); entry != directory_.end() && entry->second.size > declared)
      throw Error(
          fmt::format("{}: {} declares {} bytes ({} stored), more than the {} its storage of {} elements "
                      "needs: refused before reading it",
                      where_, about, entry->second.size, entry->second.compressed, declared, t.storage.numel));
    const uint64_t offset = zip_call(where_, about, [&] { return reader_->getRecordOffset(record); });
    LoadedStorage loaded;
    if (auto in_place = stored_record_size(zip_, offset, record, declared)) {
      check_crc(record, file_->data() + offset, *in_place);
      loaded = {view_storage(file_, offset, *in_place), *in_place};
    } else {  // compressed, unaligned or otherwise unusual: LibTorch reads (and inflates) a copy
      require_listed(record);
      auto [data, size] = zip_call(where_, about, [&] { return reader_->getRecord(record); });
      check_crc(record, data.get(), size);
      loaded.storage =
          c10::Storage(c10::Storage::use_byte_size_t(), static_cast<int64_t>(size), std::move(data), nullptr, false);
      loaded.bytes = size;
    }
    return storages_.emplace(t.storage.key, std::move(loaded)).first->second;
  }

  uint64_t declared_bytes(const detail::PickledTensor& t) const {
    const auto item = static_cast<uint64_t>(c10::elementSize(t.storage.dtype));
    const auto numel = static_cast<uint64_t>(t.storage.numel);
    if (numel > std::numeric_limits<uint64_t>::max() / item)
      throw Error(where_ + ": tensor '" + t.name + "': its storage declares an impossible " + std::to_string(numel) +
                  " elements");
    return numel * item;
  }

  void check_bounds(const detail::PickledTensor& t, const LoadedStorage& storage) const {
    const std::string record = "data/" + t.storage.key;
    const uint64_t declared = declared_bytes(t);
    if (storage.bytes < declared)
      throw Error(where_ + ": tensor '" + t.name + "': storage record '" + record + "' holds " +
                  std::to_string(storage.bytes) + " bytes, fewer than the " + std::to_string(t.storage.numel) +
                  " elements of " + std::to_string(c10::elementSize(t.storage.dtype)) + " bytes it declares");
    const auto reached = elements_reached(t);
    if (!reached)
      throw Error(where_ + ": tensor '" + t.name + "': invalid shape " + shape_text(t.sizes) + ", strides " +
                  shape_text(t.strides) + " or storage offset " + std::to_string(t.storage_offset));
    if (*reached > t.storage.numel)
      throw Error(where_ + ": tensor '" + t.name + "': storage offset " + std::to_string(t.storage_offset) +
                  " with shape " + shape_text(t.sizes) + " and strides " + shape_text(t.strides) + " reaches " +
                  std::to_string(*reached) + " elements, past the " + std::to_string(t.storage.numel) +
                  " of its storage '" + record + "'");
  }

  fs::path path_;
  std::string where_;
  std::shared_ptr<MappedFile> file_;
  ZipBytes zip_;
  std::unordered_map<std::string, DeclaredRecord> directory_;
  std::unique_ptr<PyTorchStreamReader> reader_;
  std::unordered_map<std::string, LoadedStorage> storages_;  // by record key: tensors of one storage share it
};

}  // namespace

std::shared_ptr<TorchCheckpointFile> TorchCheckpointFile::open(const fs::path& path) {
  return ArchiveLoader(path).load();
}

}  // namespace arrakis
