#pragma once
// The one exception type Arrakis throws for bad input. Messages name the file, tensor, hook, id or argument at
// fault, so that a user can act on them without a debugger.
#include <stdexcept>
#include <string>

namespace arrakis {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace arrakis
