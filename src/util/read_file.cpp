#include "util/read_file.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "arrakis/error.hpp"

namespace arrakis {

void refuse_special_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw Error(fmt::format("{}: not a regular file", file.string()));
}

std::string read_text_file(const std::filesystem::path& file) {
  refuse_special_file(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot be opened for reading", file.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("{}: read error", file.string()));
  return std::move(buffer).str();
}

}  // namespace arrakis
