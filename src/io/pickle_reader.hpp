#pragma once
// A strict reader for the pickle `torch.save` writes as data.pkl for a state dict. It understands only the opcodes and
// the globals such a pickle uses, and calls nothing: a global outside the allow-list is an error, never an import.
// Why not torch::pickle_load: LibTorch 1.13's unpickler rejects some real state dicts (the single-item SETITEM opcode
// that Python writes for a dict of one entry) and its messages cannot name the file.
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace arrakis::detail {

/// A persistent id ('storage', torch.<Type>Storage, key, location, numel): the archive record data/<key>.
struct PickledStorage {
  std::string key;
  c10::ScalarType dtype = c10::ScalarType::Float;
  int64_t numel = 0;
};

/// One tensor of the state dict as torch._utils._rebuild_tensor_v2 describes it (unchecked against its storage).
struct PickledTensor {
  std::string name;
  PickledStorage storage;
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

/// The tensors of a state-dict pickle in the dict's order. The top level must be a dict (or OrderedDict) of name ->
/// tensor or nn.Parameter; other values (ints, `_metadata` set by BUILD) are skipped. A dict of exactly one entry
/// "state_dict" or "model" holding a dict is unwrapped to that dict. `origin` names the file in messages.
/// Throws arrakis::Error naming `origin` and the opcode, global or entry at fault.
std::vector<PickledTensor> read_state_dict_pickle(std::span<const std::byte> pickle, const std::string& origin);

}  // namespace arrakis::detail
