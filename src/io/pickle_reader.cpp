#include "io/pickle_reader.hpp"

#include <bit>
#include <cstdio>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

#include "arrakis/error.hpp"

namespace arrakis::detail {
namespace {

// What a GLOBAL may name. REDUCE on one of these builds a value; nothing is ever imported or run.
enum class Callable { OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, StorageType };

struct Global {
  Callable callable;
  c10::ScalarType dtype = c10::ScalarType::Undefined;  // for a storage type
  std::string name;                                    // "module.name", for messages
};

struct StorageClass {
  const char* name;
  c10::ScalarType dtype;
};

constexpr StorageClass kStorageClasses[] = {
    {"FloatStorage", c10::ScalarType::Float}, {"DoubleStorage", c10::ScalarType::Double},
    {"HalfStorage", c10::ScalarType::Half},   {"BFloat16Storage", c10::ScalarType::BFloat16},
    {"LongStorage", c10::ScalarType::Long},   {"IntStorage", c10::ScalarType::Int},
    {"ShortStorage", c10::ScalarType::Short}, {"CharStorage", c10::ScalarType::Char},
    {"ByteStorage", c10::ScalarType::Byte},   {"BoolStorage", c10::ScalarType::Bool},
};

struct None {};
struct Tuple;
struct List;
struct Dict;

struct Value {
  std::variant<None, bool, int64_t, double, std::string, std::shared_ptr<Tuple>, std::shared_ptr<List>,
               std::shared_ptr<Dict>, Global, PickledStorage, std::shared_ptr<const PickledTensor>>
      v;

  template <class T>
  const T* as() const {
    return std::get_if<T>(&v);
  }
};

// Freeing a deeply nested value recursively could overflow the stack (a hostile pickle can nest lists a million deep
// in a few megabytes), so every container's destructor hands its children to one loop that frees them level by level.
void release(std::vector<Value>& children) noexcept {
  thread_local std::vector<Value> pending;
  thread_local bool draining = false;
  for (auto& child : children) pending.push_back(std::move(child));
  children.clear();
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    // `last` dies at the end of this block; a container it held alone adds its children to `pending`.
    Value last = std::move(pending.back());
    pending.pop_back();
  }
  draining = false;
}

struct Tuple {
  std::vector<Value> items;
  ~Tuple() { release(items); }
};

struct List {
  std::vector<Value> items;
  ~List() { release(items); }
};

struct Dict {
  std::vector<std::pair<Value, Value>> items;  // in insertion order, as Python keeps them
  std::unordered_map<std::string, std::size_t> string_keys;

  // A repeated key replaces the value and keeps its place, as in Python.
  void set(Value key, Value value) {
    if (const auto* name = key.as<std::string>()) {
      auto [at, inserted] = string_keys.try_emplace(*name, items.size());
      if (!inserted) {
        items[at->second].second = std::move(value);
        return;
      }
    }
    items.emplace_back(std::move(key), std::move(value));
  }
  void clear() {
    std::vector<Value> children;
    children.reserve(2 * items.size());
    for (auto& [key, value] : items) {
      children.push_back(std::move(key));
      children.push_back(std::move(value));
    }
    items.clear();
    string_keys.clear();
    release(children);
  }
  ~Dict() { clear(); }
};

std::string type_name(const Value& value) {
  struct Namer {
    std::string operator()(const None&) const { return "None"; }
    std::string operator()(bool) const { return "bool"; }
    std::string operator()(int64_t) const { return "int"; }
    std::string operator()(double) const { return "float"; }
    std::string operator()(const std::string&) const { return "str"; }
    std::string operator()(const std::shared_ptr<Tuple>&) const { return "tuple"; }
    std::string operator()(const std::shared_ptr<List>&) const { return "list"; }
    std::string operator()(const std::shared_ptr<Dict>&) const { return "dict"; }
    std::string operator()(const Global& g) const { return g.name; }
    std::string operator()(const PickledStorage&) const { return "storage"; }
    std::string operator()(const std::shared_ptr<const PickledTensor>&) const { return "tensor"; }
  };
  return std::visit(Namer{}, value.v);
}

std::string opcode_label(uint8_t op) {
  char text[16];
  if (op >= 0x20 && op < 0x7f)
    std::snprintf(text, sizeof text, "0x%02x ('%c')", op, op);
  else
    std::snprintf(text, sizeof text, "0x%02x", op);
  return text;
}

// A stack machine over the pickle's bytes, as Python's own unpickler is, for the opcodes torch.save uses.
class Unpickler {
 public:
  Unpickler(std::span<const std::byte> bytes, std::string origin) : bytes_(bytes), origin_(std::move(origin)) {}

  // Values can reference each other through the memo (a list appended to itself, a dict set as its own value), so
  // shared ownership alone would leak them: emptying every list and dict still alive breaks every such cycle. All of
  // them, not only those the memo holds at the end: a memo slot can be overwritten after its value joined a cycle
  // (found by the fuzzer: tests/data/fuzz/pickle/dict-in-a-cycle-left-by-an-overwritten-memo-slot).
  ~Unpickler() {
    for (const auto& weak : lists_)
      if (auto list = weak.lock()) release(list->items);
    for (const auto& weak : dicts_)
      if (auto dict = weak.lock()) dict->clear();
    release(stack_);
  }

  // The value STOP returns; it lives as long as the unpickler.
  const Value& run() {
    for (;;) {
      opcode_at_ = pos_;
      const uint8_t op = byte();
      switch (op) {
        case 0x80: {  // PROTO
          const uint8_t protocol = byte();
          if (protocol < 2 || protocol > 5)
            fail("pickle protocol " + std::to_string(protocol) + " is not supported (torch.save writes 2)");
          break;
        }
        case 0x95: unsigned_le(8); break;  // FRAME: only a length hint
        case 'c': {                        // GLOBAL
          std::string module = line();
          std::string name = line();
          push({resolve(module, name)});
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          std::string name = pop_string("STACK_GLOBAL");
          std::string module = pop_string("STACK_GLOBAL");
          push({resolve(module, name)});
          break;
        }
        case 'q': memoize(byte()); break;                  // BINPUT
        case 'r': memoize(unsigned_le(4)); break;          // LONG_BINPUT
        case 0x94: memoize(memo_.size()); break;           // MEMOIZE
        case 'h': recall(byte()); break;                   // BINGET
        case 'j': recall(unsigned_le(4)); break;           // LONG_BINGET
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '}': push({new_dict()}); break;
        case ']': push({new_list()}); break;
        case ')': push({std::make_shared<Tuple>()}); break;
        case 't': push({make_tuple(pop_to_mark())}); break;
        case 0x85:  // TUPLE1
        case 0x86:  // TUPLE2
        case 0x87:  // TUPLE3
          push({make_tuple(pop_n(op - 0x84u))});
          break;
        case 'J': push({int64_t{static_cast<int32_t>(unsigned_le(4))}}); break;  // BININT
        case 'K': push({int64_t{byte()}}); break;                                // BININT1
        case 'M': push({static_cast<int64_t>(unsigned_le(2))}); break;           // BININT2
        case 0x8a: push({long1()}); break;
        case 'X': push({text(unsigned_le(4))}); break;   // BINUNICODE
        case 0x8c: push({text(byte())}); break;          // SHORT_BINUNICODE
        case 0x8d: push({text(unsigned_le(8))}); break;  // BINUNICODE8
        case 'T': {                                      // BINSTRING (a Python 2 str)
          const auto length = static_cast<int32_t>(unsigned_le(4));
          if (length < 0) fail("BINSTRING with negative length");
          push({text(static_cast<uint64_t>(length))});
          break;
        }
        case 'U': push({text(byte())}); break;          // SHORT_BINSTRING
        case 'B': push({text(unsigned_le(4))}); break;  // BINBYTES
        case 'C': push({text(byte())}); break;          // SHORT_BINBYTES
        case 'N': push({None{}}); break;
        case 0x88: push({true}); break;                                  // NEWTRUE
        case 0x89: push({false}); break;                                 // NEWFALSE
        case 'G': push({std::bit_cast<double>(unsigned_be(8))}); break;  // BINFLOAT
        case 'R': {                                                      // REDUCE
          Value args = pop();
          Value callable = pop();
          const auto* global = callable.as<Global>();
          const auto* tuple = args.as<std::shared_ptr<Tuple>>();
          if (!global) fail("REDUCE calls a " + type_name(callable) + ", not an allowed global");
          if (!tuple) fail("REDUCE passes " + global->name + " a " + type_name(args) + ", not a tuple");
          push(reduce(*global, (*tuple)->items));
          break;
        }
        case 'b': {  // BUILD: sets attributes, such as the `_metadata` nn.Module.state_dict() attaches; dropped
          pop();
          if (!top().as<std::shared_ptr<Dict>>())
            fail("BUILD on a " + type_name(top()) + " (only a state dict's own attributes are accepted)");
          break;
        }
        case 's': {  // SETITEM: Python writes it for a dict batch of exactly one item
          Value value = pop();
          Value key = pop();
          dict_on_top("SETITEM").set(std::move(key), std::move(value));
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Value> items = pop_to_mark();
          if (items.size() % 2 != 0) fail("SETITEMS with an odd number of keys and values");
          Dict& dict = dict_on_top("SETITEMS");
          for (std::size_t i = 0; i < items.size(); i += 2) dict.set(std::move(items[i]), std::move(items[i + 1]));
          break;
        }
        case 'a': {  // APPEND
          Value value = pop();
          list_on_top("APPEND").items.push_back(std::move(value));
          break;
        }
        case 'e': {  // APPENDS
          std::vector<Value> items = pop_to_mark();
          auto& list = list_on_top("APPENDS").items;
          for (auto& item : items) list.push_back(std::move(item));
          break;
        }
        case 'Q': {  // BINPERSID
          Value id = pop();
          push({persistent_load(id)});
          break;
        }
        case '.':  // STOP
          if (!marks_.empty() || stack_.size() != 1)
            fail("STOP with " + std::to_string(stack_.size()) + " values on the stack and " +
                 std::to_string(marks_.size()) + " open MARKs");
          return stack_.back();
        default:
          fail("unsupported pickle opcode " + opcode_label(op) + " (torch.save never writes it for a state dict)");
      }
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(origin_ + " (byte " + std::to_string(opcode_at_) + "): " + what);
  }

 private:
  // ---- reading the bytes --------------------------------------------------------------------------------------
  uint8_t byte() {
    if (pos_ >= bytes_.size()) fail("the pickle ends without STOP");
    return std::to_integer<uint8_t>(bytes_[pos_++]);
  }
  std::string_view take(uint64_t n) {
    if (n > bytes_.size() - pos_)
      fail("a " + std::to_string(n) + "-byte field runs past the end of the pickle (" + std::to_string(bytes_.size()) +
           " bytes)");
    std::string_view out(reinterpret_cast<const char*>(bytes_.data()) + pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t unsigned_le(int n) {
    const std::string_view raw = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(raw[i]);
    return v;
  }
  uint64_t unsigned_be(int n) {
    const std::string_view raw = take(n);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(raw[i]);
    return v;
  }
  std::string text(uint64_t n) { return std::string(take(n)); }
  std::string line() {
    const std::string_view rest(reinterpret_cast<const char*>(bytes_.data()) + pos_, bytes_.size() - pos_);
    const auto end = rest.find('\n');
    if (end == std::string_view::npos) fail("GLOBAL without an end of line");
    pos_ += end + 1;
    return std::string(rest.substr(0, end));
  }
  // LONG1: a little-endian two's-complement integer of n bytes; a state dict's never need more than 8.
  int64_t long1() {
    const uint8_t n = byte();
    if (n > 8) fail("LONG1 integer of " + std::to_string(n) + " bytes does not fit 64 bits");
    if (n == 0) return 0;
    uint64_t v = unsigned_le(n);
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }

  // ---- the stack, its marks and the memo -----------------------------------------------------------------------
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Value value) {
    count(value);
    stack_.push_back(std::move(value));
  }
  // Memory the pickle's values take, against a budget of 32 MiB + 2x the pickle's size. Without one a pickle could
  // take ~100x its size (an EMPTY_LIST is 1 byte, a list ~120), or far more through the memo (BINGET copies a value,
  // strings by value, for 2 bytes). A real state dict takes ~1.5 KB per tensor: 32 MiB is ~20000 tensors in one file.
  void count(const Value& value) {
    made_bytes_ += sizeof(Value);
    if (const auto* text = value.as<std::string>()) made_bytes_ += text->size();
    if (const auto* global = value.as<Global>()) made_bytes_ += global->name.size();
    if (const auto* storage = value.as<PickledStorage>()) made_bytes_ += storage->key.size();
    if (value.as<std::shared_ptr<List>>() || value.as<std::shared_ptr<Dict>>() || value.as<std::shared_ptr<Tuple>>())
      made_bytes_ += 64;  // the container and its shared_ptr control block
    const uint64_t budget = (uint64_t{32} << 20) + 2 * static_cast<uint64_t>(bytes_.size());
    if (made_bytes_ > budget)
      fail("its values take more than " + std::to_string(budget) + " bytes (32 MiB + 2x its " +
           std::to_string(bytes_.size()) + " bytes; copies through the memo?): refused as a memory bomb");
  }
  Value& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  Value pop() {
    Value value = std::move(top());
    stack_.pop_back();
    return value;
  }
  std::vector<Value> pop_n(std::size_t n) {
    if (stack_.size() - floor() < n) fail("stack underflow");
    std::vector<Value> items(std::make_move_iterator(stack_.end() - n), std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return items;
  }
  std::vector<Value> pop_to_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<Value> items = pop_n(stack_.size() - marks_.back());
    marks_.pop_back();
    return items;
  }
  std::string pop_string(const char* opcode) {
    Value value = pop();
    auto* s = value.as<std::string>();
    if (!s) fail(std::string(opcode) + " expects strings, got a " + type_name(value));
    return *s;
  }
  static std::shared_ptr<Tuple> make_tuple(std::vector<Value> items) {
    auto tuple = std::make_shared<Tuple>();
    tuple->items = std::move(items);
    return tuple;
  }
  Dict& dict_on_top(const char* opcode) {
    auto* dict = std::get_if<std::shared_ptr<Dict>>(&top().v);
    if (!dict) fail(std::string(opcode) + " on a " + type_name(top()) + ", not a dict");
    return **dict;
  }
  List& list_on_top(const char* opcode) {
    auto* list = std::get_if<std::shared_ptr<List>>(&top().v);
    if (!list) fail(std::string(opcode) + " on a " + type_name(top()) + ", not a list");
    return **list;
  }
  void memoize(uint64_t index) {
    count(top());
    memo_[index] = top();
  }
  void recall(uint64_t index) {
    auto found = memo_.find(index);
    if (found == memo_.end()) fail("memo entry " + std::to_string(index) + " is read before it is written");
    push(found->second);
  }

  // ---- the allow-listed globals ---------------------------------------------------------------------------------
  Global resolve(const std::string& module, const std::string& name) const {
    std::string qualified = module + "." + name;
    if (module == "collections" && name == "OrderedDict") return {Callable::OrderedDict, {}, qualified};
    if (module == "torch._utils") {
      if (name == "_rebuild_tensor_v2") return {Callable::RebuildTensorV2, {}, qualified};
      if (name == "_rebuild_tensor") return {Callable::RebuildTensor, {}, qualified};
      if (name == "_rebuild_parameter") return {Callable::RebuildParameter, {}, qualified};
    }
    if (module == "torch")
      for (const auto& storage : kStorageClasses)
        if (name == storage.name) return {Callable::StorageType, storage.dtype, qualified};
    fail("pickle global '" + qualified +
         "' is not allowed: a state dict may only name collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
         "_rebuild_tensor, _rebuild_parameter and torch.<Type>Storage (nothing in a checkpoint is ever run)");
  }

  Value reduce(const Global& callable, const std::vector<Value>& args) {
    auto arity = [&](std::size_t low, std::size_t high) {
      if (args.size() < low || args.size() > high)
        fail(callable.name + " called with " + std::to_string(args.size()) + " arguments");
    };
    switch (callable.callable) {
      case Callable::OrderedDict: arity(0, 0); return {new_dict()};
      case Callable::RebuildTensorV2:  // (storage, offset, size, stride, requires_grad, hooks[, metadata])
        arity(6, 7);
        return {rebuild_tensor(callable, args)};
      case Callable::RebuildTensor:  // (storage, offset, size, stride)
        arity(4, 4);
        return {rebuild_tensor(callable, args)};
      case Callable::RebuildParameter:  // (tensor, requires_grad, hooks): the parameter is its tensor here
        arity(3, 3);
        if (!args[0].as<std::shared_ptr<const PickledTensor>>())
          fail(callable.name + " wraps a " + type_name(args[0]) + ", not a tensor");
        return args[0];
      case Callable::StorageType: break;
    }
    fail(callable.name + " is called, which torch.save never does");
  }

  std::shared_ptr<const PickledTensor> rebuild_tensor(const Global& callable, const std::vector<Value>& args) {
    auto tensor = std::make_shared<PickledTensor>();  // named when the dict is read
    const auto* storage = args[0].as<PickledStorage>();
    const auto* offset = args[1].as<int64_t>();
    if (!storage) fail(callable.name + " argument 1 is a " + type_name(args[0]) + ", not a storage");
    if (!offset) fail(callable.name + " argument 2 (storage offset) is a " + type_name(args[1]) + ", not an int");
    tensor->storage = *storage;
    tensor->storage_offset = *offset;
    tensor->sizes = int_tuple(callable, args[2], "3 (size)");
    tensor->strides = int_tuple(callable, args[3], "4 (stride)");
    if (args.size() > 4 && !args[4].as<bool>())
      fail(callable.name + " argument 5 (requires_grad) is a " + type_name(args[4]) + ", not a bool");
    return tensor;
  }

  std::vector<int64_t> int_tuple(const Global& callable, const Value& value, const char* which) {
    const auto* tuple = value.as<std::shared_ptr<Tuple>>();
    if (!tuple) fail(callable.name + " argument " + which + " is a " + type_name(value) + ", not a tuple");
    std::vector<int64_t> out;
    for (const auto& item : (*tuple)->items) {
      const auto* n = item.as<int64_t>();
      if (!n) fail(callable.name + " argument " + which + " holds a " + type_name(item) + ", not an int");
      out.push_back(*n);
    }
    return out;
  }

  // torch.save's persistent id for a storage: ('storage', torch.<Type>Storage, key, location, numel).
  PickledStorage persistent_load(const Value& id) {
    const std::string shape = "persistent id is not ('storage', torch.<Type>Storage, key, location, numel)";
    const auto* tuple = id.as<std::shared_ptr<Tuple>>();
    if (!tuple || (*tuple)->items.size() != 5) fail(shape);
    const auto& items = (*tuple)->items;
    const auto* tag = items[0].as<std::string>();
    const auto* type = items[1].as<Global>();
    const auto* key = items[2].as<std::string>();
    const auto* numel = items[4].as<int64_t>();
    if (!tag || *tag != "storage" || !type || type->callable != Callable::StorageType || !key ||
        !items[3].as<std::string>() || !numel || *numel < 0)
      fail(shape);
    return {*key, type->dtype, *numel};
  }

  std::span<const std::byte> bytes_;
  std::string origin_;
  std::size_t pos_ = 0;
  std::size_t opcode_at_ = 0;
  std::vector<Value> stack_;
  std::vector<std::size_t> marks_;  // stack heights at each open MARK
  std::unordered_map<uint64_t, Value> memo_;
  // Every mutable container made, so that the destructor can break the cycles among them.
  std::vector<std::weak_ptr<List>> lists_;
  std::vector<std::weak_ptr<Dict>> dicts_;
  std::shared_ptr<List> new_list() {
    auto list = std::make_shared<List>();
    lists_.push_back(list);
    return list;
  }
  std::shared_ptr<Dict> new_dict() {
    auto dict = std::make_shared<Dict>();
    dicts_.push_back(dict);
    return dict;
  }
  uint64_t made_bytes_ = 0;  // the budget count() keeps
};

// The state dict inside the unpickled value, unwrapping {"state_dict": {...}} or {"model": {...}}.
std::vector<PickledTensor> state_dict_tensors(const Value& root, const std::string& origin) {
  const auto* top = root.as<std::shared_ptr<Dict>>();
  if (!top) throw Error(origin + ": holds a " + type_name(root) + ", not a state dict (a dict of tensors)");
  const Dict* dict = top->get();
  if (dict->items.size() == 1) {
    const auto& [key, value] = dict->items.front();
    const auto* name = key.as<std::string>();
    const auto* inner = value.as<std::shared_ptr<Dict>>();
    if (name && inner && (*name == "state_dict" || *name == "model")) dict = inner->get();
  }
  std::vector<PickledTensor> tensors;
  std::string nested;  // entries that are dicts, for the message when there is no tensor at all
  for (const auto& [key, value] : dict->items) {
    const auto* name = key.as<std::string>();
    const auto* tensor = value.as<std::shared_ptr<const PickledTensor>>();
    if (!tensor) {
      if (name && value.as<std::shared_ptr<Dict>>()) nested += (nested.empty() ? "'" : ", '") + *name + "'";
      continue;
    }
    if (!name) throw Error(origin + ": a tensor is stored under a " + type_name(key) + " key, not a name");
    tensors.push_back(**tensor);
    tensors.back().name = *name;
  }
  if (tensors.empty() && !nested.empty())
    throw Error(origin + ": holds no tensors, only dicts (" + nested +
                "): a training checkpoint? Save the model's state dict on its own");
  return tensors;
}

}  // namespace

std::vector<PickledTensor> read_state_dict_pickle(std::span<const std::byte> pickle, const std::string& origin) {
  Unpickler unpickler(pickle, origin);
  return state_dict_tensors(unpickler.run(), origin);
}

}  // namespace arrakis::detail
