#pragma once
// Reading a whole file named by a user or found in a model folder.
#include <filesystem>
#include <string>

namespace arrakis {

/// The whole file as bytes; arrakis::Error naming the file when it cannot be opened or read, or is not a regular file
/// (a FIFO or a device would block or never end).
std::string read_text_file(const std::filesystem::path& file);

/// arrakis::Error "<file>: not a regular file" when `file` exists and is a FIFO, device, folder or socket (for
/// readers that open the file themselves, such as libsentencepiece).
void refuse_special_file(const std::filesystem::path& file);

}  // namespace arrakis
