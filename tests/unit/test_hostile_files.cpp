// Hostile files (issue 11): pickles that would run code if unpickled, archives with out-of-range storages or damaged
// records, and declared sizes or nesting meant to exhaust memory or the stack. Each is a clear arrakis::Error naming
// the file and what is at fault, creates nothing, and costs well under 100 MB.
#include <caffe2/serialize/inline_container.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "arrakis/io/config_json.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/io/torch_checkpoint.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "model/families/model_family.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;  // "K\x00"s: pickles hold NUL bytes

// ---- pickles, written opcode by opcode (protocol 2 unless noted) ---------------------------------------------------

std::string unicode(const std::string& text) {  // BINUNICODE
  std::string out = "X";
  for (int i = 0; i < 4; ++i) out += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return out + text;
}

std::string long1(int64_t value) {  // LONG1 with 8 little-endian bytes
  std::string out = "\x8a\x08";
  for (int i = 0; i < 8; ++i) out += static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  return out;
}

std::string tuple_of(const std::vector<std::string>& items) {  // MARK items TUPLE
  std::string out = "(";
  for (const auto& item : items) out += item;
  return out + "t";
}

// {"w": _rebuild_tensor_v2(storage 'key' of `numel` floats, offset, sizes, strides, False, OrderedDict())}
std::string tensor_pickle(const std::string& offset, const std::string& sizes, const std::string& strides,
                          const std::string& numel = "K\x04") {
  const std::string storage =
      tuple_of({unicode("storage"), "ctorch\nFloatStorage\n", unicode("0"), unicode("cpu"), numel}) + "Q";
  const std::string args = tuple_of({storage, offset, sizes, strides, "\x89", "ccollections\nOrderedDict\n)R"});
  return std::string("\x80\x02}(") + unicode("w") + "ctorch._utils\n_rebuild_tensor_v2\n" + args + "Ru.";
}

// A torch.save archive (LibTorch's own writer) holding `pickle` as data.pkl and 4 floats as storage "0".
fs::path archive(const std::string& name, const std::string& pickle) {
  const fs::path path = test::temp_dir("hostile-files") / (name + ".bin");
  caffe2::serialize::PyTorchStreamWriter writer(path.string());
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  const float data[4] = {1, 2, 3, 4};
  writer.writeRecord("data/0", data, sizeof data);
  writer.writeEndOfFile();
  return path;
}

TEST(HostileFiles, PicklesThatWouldRunCodeAreRefusedNamingTheGlobalAndRunNothing) {
  const fs::path marker = test::temp_dir("hostile-files") / "pwned";
  fs::remove(marker);
  const std::string touch = "touch " + marker.string();
  const std::string create = "open('" + marker.string() + "', 'w')";
  struct Payload {
    std::string global;  // as the error names it
    std::string pickle;
  };
  // A good state dict whose last SETITEMS also holds "x": os.system(...).
  std::string hidden = tensor_pickle("K\x00"s, "K\x04\x85", "K\x01\x85");
  hidden = hidden.substr(0, hidden.size() - 2) + unicode("x") + "cos\nsystem\n" + unicode(touch) + "\x85Ru.";
  // PROTO 2, GLOBAL module.name, the argument, TUPLE1, REDUCE, STOP: what pickle.dumps writes for a call.
  const auto call = [](const std::string& global, const std::string& argument) {
    std::string module = global.substr(0, global.find('.')), name = global.substr(global.find('.') + 1);
    return std::string("\x80\x02") + "c" + module + "\n" + name + "\n" + argument + "\x85R.";
  };
  const std::vector<Payload> payloads = {
      {"os.system", call("os.system", unicode(touch))},
      {"posix.system", call("posix.system", unicode(touch))},
      {"builtins.eval", call("builtins.eval", unicode(create))},
      {"builtins.exec", call("builtins.exec", unicode(create))},
      {"subprocess.Popen", call("subprocess.Popen", "(" + unicode("touch") + unicode(marker.string()) + "l")},
      {"torch.load", call("torch.load", unicode(marker.string()))},
      // Protocol 4 names globals from the stack (STACK_GLOBAL) instead of the opcode's own text.
      {"os.system", "\x80\x04\x8c\x02os\x8c\x06system\x93" + unicode(touch) + "\x85R."},
      {"os.system", hidden},
  };
  for (const Payload& payload : payloads) {
    const fs::path file = archive("evil", payload.pickle);
    const std::string message = test::arrakis_error_of([&] { TorchCheckpointFile::open(file); });
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find("pickle global '" + payload.global + "' is not allowed"), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(marker)) << payload.global << " ran";
  }
}

TEST(HostileFiles, APickleCannotCallWhatAReduceBuiltNorExhaustMemoryThroughItsMemo) {
  // Nested REDUCE: calling the OrderedDict that a first REDUCE built. (POP, DUP and the other opcodes a state dict
  // never needs are refused outright.)
  std::string message = test::arrakis_error_of([&] {
    TorchCheckpointFile::open(archive("nested",
                                      "\x80\x02"
                                      "ccollections\nOrderedDict\n)R)R."));
  });
  EXPECT_NE(message.find("REDUCE calls a"), std::string::npos) << message;
  EXPECT_NE(message.find("not an allowed global"), std::string::npos) << message;
  message = test::arrakis_error_of([&] { TorchCheckpointFile::open(archive("pop", "\x80\x02]0.")); });
  EXPECT_NE(message.find("unsupported pickle opcode 0x30 ('0')"), std::string::npos) << message;

  // A memo bomb: entry k holds list k-1 twice, 64 levels deep (2^64 paths through 64 lists), then a list appended to
  // itself (a cycle). Read as references, never expanded; neither is a tensor, so the state dict is empty.
  const auto before = test::peak_rss_bytes();
  std::string bomb = "\x80\x02}(" + unicode("l0") + "]q\x00"s;  // [] memoized as 0
  for (int level = 1; level <= 64; ++level) {  // key, EMPTY_LIST, BINPUT level, MARK, BINGET level-1 twice, APPENDS
    const char previous = static_cast<char>(level - 1), current = static_cast<char>(level);
    bomb += unicode(std::string("l").append(std::to_string(level)));
    for (const char c : {']', 'q', current, '(', 'h', previous, 'h', previous, 'e'}) bomb.push_back(c);
  }
  bomb += unicode("cycle") + "]q\x41h\x41\x61";  // [] memoized as 65, then APPEND itself
  bomb += "u.";
  EXPECT_TRUE(TorchCheckpointFile::open(archive("bomb", bomb))->names().empty());
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20);

  // Memo copies: a 1 MiB string fetched 100 times; an empty list fetched 4 million times (2 bytes each).
  std::string copies = "\x80\x02" + unicode(std::string(1 << 20, 'a')) + "q\x00"s;
  for (int i = 0; i < 100; ++i) copies += "h\x00"s;
  std::string values = "\x80\x02]q\x00"s;
  for (int i = 0; i < (1 << 22); ++i) values += "h\x00"s;
  for (const auto& [name, pickle] : {std::pair{"copies", copies}, std::pair{"values", values}}) {
    const auto start = test::peak_rss_bytes();
    message = test::arrakis_error_of([&] { TorchCheckpointFile::open(archive(name, pickle + ".")); });
    EXPECT_NE(message.find("refused as a memory bomb"), std::string::npos) << name << ": " << message;
    EXPECT_LT(test::peak_rss_bytes() - start, 100ll << 20) << name;
  }

  // A memo index beyond anything written.
  message = test::arrakis_error_of([&] { TorchCheckpointFile::open(archive("memo", "\x80\x02j\xff\xff\xff\x7f.")); });
  EXPECT_NE(message.find("memo entry 2147483647 is read before it is written"), std::string::npos) << message;
}

TEST(HostileFiles, StorageReferencesOutsideTheirRecordAreRefused) {
  // The good one first: 4 floats viewed as [2, 2].
  auto good = TorchCheckpointFile::open(archive("good", tensor_pickle("K\x00"s, "K\x02K\x02\x86", "K\x02K\x01\x86")));
  EXPECT_TRUE(good->tensor("w").equal(torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));

  struct Case {
    std::string what, pickle, expected;
  };
  const std::vector<Case> cases = {
      {"offset past the end", tensor_pickle("K\x03", "K\x02K\x02\x86", "K\x02K\x01\x86"),
       "reaches 7 elements, past the 4 of its storage"},
      {"negative offset", tensor_pickle("J\xff\xff\xff\xff", "K\x02\x85", "K\x01\x85"), "storage offset -1"},
      {"negative size", tensor_pickle("K\x00"s, "J\xfe\xff\xff\xffK\x02\x86", "K\x02K\x01\x86"), "invalid shape"},
      {"element count beyond 64 bits",
       tensor_pickle("K\x00"s, "(" + long1(int64_t{1} << 40) + long1(int64_t{1} << 40) + "t",
                     "(" + long1(int64_t{1} << 40) + "K\x01t"),
       "invalid shape"},
      {"storage larger than its record", tensor_pickle("K\x00"s, "K\x04\x85", "K\x01\x85", "K\x40"),
       "holds 16 bytes, fewer than the 64 elements"},
      {"storage of 2^62 elements", tensor_pickle("K\x00"s, "K\x04\x85", "K\x01\x85", long1(int64_t{1} << 62)),
       "impossible"},
  };
  for (const Case& c : cases) {
    const fs::path file = archive("range", c.pickle);
    const auto before = test::peak_rss_bytes();
    const std::string message = test::arrakis_error_of([&] { TorchCheckpointFile::open(file); });
    EXPECT_NE(message.find("tensor 'w'"), std::string::npos) << c.what << ": " << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
    EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20) << c.what;
  }
}

TEST(HostileFiles, ADamagedZipRecordFailsItsCrc32) {
  const fs::path file = archive("crc", tensor_pickle("K\x00"s, "K\x04\x85", "K\x01\x85"));
  ASSERT_NO_THROW(TorchCheckpointFile::open(file));
  // Change one byte of the stored floats (1.0f = 00 00 80 3f): the file still parses, the data is wrong.
  std::string bytes = test::read_bytes(file);
  const std::string one("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  const auto at = bytes.find(one);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 3] = '\x40';
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  const std::string message = test::arrakis_error_of([&] { TorchCheckpointFile::open(file); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("record 'data/0' is damaged: its CRC-32"), std::string::npos) << message;
}

// ---- declared sizes and nesting
// --------------------------------------------------------------------------------------

fs::path write_text(const std::string& name, const std::string& text) {
  const fs::path dir = test::temp_dir("hostile-files") / fs::path(name).stem();
  fs::create_directories(dir);
  std::ofstream(dir / fs::path(name).filename(), std::ios::binary | std::ios::trunc) << text;
  return dir / fs::path(name).filename();
}

TEST(HostileFiles, AConfigDeclaringATrillionTokenVocabularyIsRefusedBeforeAnythingIsAllocated) {
  const auto before = test::peak_rss_bytes();
  const fs::path file =
      write_text("vocab/config.json", R"({"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 8,)"
                                      R"( "vocab_size": 1099511627776, "n_positions": 16})");
  const std::string message = test::arrakis_error_of(
      [&] { family_for_model_type("gpt2", file.string()).read_config(ConfigJson::load(file)).validate(); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("vocab_size"), std::string::npos) << message;
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20);
}

TEST(HostileFiles, JsonNestedAHundredThousandDeepIsAClearErrorEverywhereJsonIsRead) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string deep_object = "{\"a\": " + deep + "}";
  const auto before = test::peak_rss_bytes();
  // config.json
  const fs::path config = write_text("deep-config/config.json", deep_object);
  std::string message = test::arrakis_error_of([&] { ConfigJson::load(config); });
  EXPECT_NE(message.find(config.string() + ": not valid JSON here: arrays and objects nest deeper than 256"),
            std::string::npos)
      << message;
  // tokenizer.json (a normalizer Sequence nested as deep would recurse in the reader)
  const fs::path tokenizer = write_text("deep-tokenizer/tokenizer.json", deep_object);
  message = test::arrakis_error_of([&] { load_tokenizer(tokenizer.parent_path()); });
  EXPECT_NE(message.find("nest deeper than 256"), std::string::npos) << message;
  // a safetensors header
  std::string header = deep_object;
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  const fs::path tensors = write_text("deep-tensors/model.safetensors", bytes + header);
  message = test::arrakis_error_of([&] { SafetensorsFile::open(tensors); });
  EXPECT_NE(message.find(tensors.string() + ": the safetensors header: not valid JSON here"), std::string::npos)
      << message;
  EXPECT_LT(test::peak_rss_bytes() - before, 100ll << 20);
  // Brackets inside strings are text, not nesting; 256 levels are still read.
  const std::string fine = "{\"a\": \"" + std::string(1000, '[') + "\", \"b\": " + std::string(255, '[') +
                           std::string(255, ']') + ", \"model_type\": \"gpt2\"}";
  EXPECT_NO_THROW(ConfigJson::load(write_text("fine/config.json", fine)));
}

TEST(HostileFiles, NumbersBeyondDoubleAndBadUtf8AreJsonErrorsNamingTheFile) {
  const fs::path big = write_text("big/config.json", R"({"model_type": "gpt2", "n_layer": 1e309})");
  std::string message = test::arrakis_error_of([&] { ConfigJson::load(big); });
  EXPECT_NE(message.find(big.string() + ": not valid JSON: number overflow parsing '1e309'"), std::string::npos)
      << message;
  const fs::path utf8 = write_text("utf8/config.json", "{\"model_type\": \"gpt\xff\"}");
  message = test::arrakis_error_of([&] { ConfigJson::load(utf8); });
  EXPECT_NE(message.find(utf8.string() + ": not valid JSON: "), std::string::npos) << message;
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
