#pragma once
// Headless Chromium (Debian's chromium package) runs the pages the html backend writes: for Plotly's own static
// export (svg, png backends) and for the browser test. Started with a fresh profile in a temporary folder, no
// network (every host name fails to resolve and every proxied request goes nowhere) and a time limit.
#include <filesystem>
#include <optional>
#include <string>

namespace arrakis {

/// $ARRAKIS_CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH; nullopt when none.
std::optional<std::filesystem::path> find_chromium();
/// Why find_chromium found nothing and how to fix it.
std::string chromium_missing_message();

/// The page's DOM after its scripts ran (Chromium's --dump-dom, letting `script_ms` of virtual time pass).
/// arrakis::Error naming `page` when Chromium is missing, fails or takes longer than `timeout_s`.
std::string chromium_dump_dom(const std::filesystem::path& page, int script_ms = 30000, int timeout_s = 120);

/// A screenshot of the page as `png` (width x height pixels).
void chromium_screenshot(const std::filesystem::path& page, const std::filesystem::path& png, int width, int height,
                         int timeout_s = 120);

/// The text of the element <pre id="`id`" ...> in a dumped DOM, HTML entities decoded; nullopt when absent.
std::optional<std::string> element_text(const std::string& dom, const std::string& id);

}  // namespace arrakis
