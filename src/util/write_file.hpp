#pragma once
// Writing a whole file so that a reader, or a failure half way, never sees half of it.
#include <filesystem>
#include <string_view>

namespace arrakis {

/// Writes `bytes` to a temporary file beside `file` and renames it over `file`: a concurrent reader sees the old file
/// or the new one, and a failed write leaves the old one whole. arrakis::Error naming `file` when it cannot.
void write_file_atomically(const std::filesystem::path& file, std::string_view bytes);

}  // namespace arrakis
