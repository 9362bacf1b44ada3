#include "util/write_file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <system_error>

#include "arrakis/error.hpp"

namespace arrakis {

void write_file_atomically(const std::filesystem::path& file, std::string_view bytes) {
  // The process id keeps two processes writing the same file from sharing a temporary.
  auto temporary = file;
  temporary += fmt::format(".tmp-{}", ::getpid());
  std::error_code ec;
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write {}: cannot create {}", file.string(), temporary.string()));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      out.close();
      std::filesystem::remove(temporary, ec);
      throw Error(fmt::format("cannot write {} (disk full?)", file.string()));
    }
  }
  std::filesystem::rename(temporary, file, ec);
  if (ec) {
    const auto why = ec.message();
    std::filesystem::remove(temporary, ec);
    throw Error(fmt::format("cannot write {}: {}", file.string(), why));
  }
}

}  // namespace arrakis
