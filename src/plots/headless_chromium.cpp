#include "plots/headless_chromium.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <vector>

#include "arrakis/error.hpp"
#include "util/run_command.hpp"

namespace arrakis {
namespace {

// A fresh profile per run, removed afterwards: no state carries from one figure or test to the next.
class TemporaryProfile {
 public:
  TemporaryProfile() {
    auto pattern = (std::filesystem::temp_directory_path() / "arrakis-chromium-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw Error("headless Chromium: cannot create a temporary profile folder");
    path_ = pattern;
  }
  ~TemporaryProfile() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TemporaryProfile(const TemporaryProfile&) = delete;
  TemporaryProfile& operator=(const TemporaryProfile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::vector<std::string> chromium_command(const TemporaryProfile& profile, int timeout_s) {
  auto chromium = find_chromium();
  if (!chromium) throw Error(chromium_missing_message());
  std::vector<std::string> command = {"timeout",
                                      "--kill-after=5",
                                      std::to_string(timeout_s),
                                      chromium->string(),
                                      "--headless",
                                      "--disable-gpu",
                                      "--no-first-run",
                                      "--no-default-browser-check",
                                      "--disable-extensions",
                                      "--disable-sync",
                                      "--disable-background-networking",
                                      "--disable-component-update",
                                      "--host-resolver-rules=MAP * ~NOTFOUND",
                                      "--proxy-server=127.0.0.1:9",
                                      "--user-data-dir=" + profile.path().string()};
  // Chromium's sandbox refuses to run as root (containers, CI); the pages are our own files.
  if (::geteuid() == 0) command.push_back("--no-sandbox");
  return command;
}

std::string file_url(const std::filesystem::path& page) {
  return "file://" + std::filesystem::absolute(page).lexically_normal().string();
}

void check_page(const std::filesystem::path& page) {
  if (!std::filesystem::is_regular_file(page))
    throw Error(fmt::format("headless Chromium: {} is not a file", page.string()));
}

}  // namespace

std::optional<std::filesystem::path> find_chromium() {
  if (const char* chosen = std::getenv("ARRAKIS_CHROMIUM"); chosen && *chosen) {
    if (::access(chosen, X_OK) == 0) return std::filesystem::path(chosen);
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  return std::nullopt;
}

std::string chromium_missing_message() {
  if (const char* chosen = std::getenv("ARRAKIS_CHROMIUM"); chosen && *chosen)
    return fmt::format("ARRAKIS_CHROMIUM={} is not an executable file", chosen);
  return "static figures (svg, png) are drawn by headless Chromium, which is not installed: install Debian's "
         "chromium package (scripts/setup.sh does), set ARRAKIS_CHROMIUM to a Chromium or Chrome, or write .html "
         "or .json figures";
}

std::string chromium_dump_dom(const std::filesystem::path& page, int script_ms, int timeout_s) {
  check_page(page);
  TemporaryProfile profile;
  auto command = chromium_command(profile, timeout_s);
  command.push_back(fmt::format("--virtual-time-budget={}", script_ms));
  command.push_back("--dump-dom");
  command.push_back(file_url(page));
  auto run = run_command(command);
  if (run.status == 124 || run.status == 137)
    throw Error(fmt::format("headless Chromium took longer than {} s on {}", timeout_s, page.string()));
  if (run.status != 0 || run.output.find("</html>") == std::string::npos)
    throw Error(fmt::format("headless Chromium failed on {} (exit status {})", page.string(), run.status));
  return run.output;
}

void chromium_screenshot(const std::filesystem::path& page, const std::filesystem::path& png, int width, int height,
                         int timeout_s) {
  check_page(page);
  TemporaryProfile profile;
  auto command = chromium_command(profile, timeout_s);
  command.push_back("--virtual-time-budget=30000");
  command.push_back("--hide-scrollbars");
  command.push_back(fmt::format("--window-size={},{}", width, height));
  command.push_back("--screenshot=" + std::filesystem::absolute(png).string());
  command.push_back(file_url(page));
  auto run = run_command(command);
  if (run.status != 0 || !std::filesystem::exists(png))
    throw Error(fmt::format("headless Chromium could not screenshot {} (exit status {})", page.string(), run.status));
}

std::optional<std::string> element_text(const std::string& dom, const std::string& id) {
  const auto open = dom.find(fmt::format("<pre id=\"{}\"", id));
  if (open == std::string::npos) return std::nullopt;
  const auto start = dom.find('>', open);
  const auto end = dom.find("</pre>", start);
  if (start == std::string::npos || end == std::string::npos) return std::nullopt;
  // Serialised text escapes exactly these (HTML's serialisation algorithm).
  std::string text;
  for (std::size_t i = start + 1; i < end;) {
    bool replaced = false;
    for (auto [entity, decoded] : {std::pair<std::string_view, std::string_view>{"&amp;", "&"},
                                   {"&lt;", "<"},
                                   {"&gt;", ">"},
                                   {"&nbsp;", "\u00a0"}}) {
      if (dom.compare(i, entity.size(), entity) == 0) {
        text += decoded;
        i += entity.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) text += dom[i++];
  }
  return text;
}

}  // namespace arrakis
