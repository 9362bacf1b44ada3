#include "arrakis/plots/plot_backend.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "arrakis/error.hpp"
#include "arrakis/util/closest_names.hpp"
#include "plots/headless_chromium.hpp"
#include "plots/html_page.hpp"
#include "util/write_file.hpp"

namespace arrakis {
namespace {

class HtmlBackend final : public PlotBackend {
 public:
  std::string name() const override { return "html"; }
  std::string extension() const override { return ".html"; }
  std::string description() const override {
    return "interactive page (Plotly.js inlined: opens offline; hover for values, drag to zoom)";
  }
  std::vector<std::filesystem::path> write(const std::filesystem::path& file, const std::vector<Figure>& figures,
                                           const PlotOptions& options) const override {
    write_file_atomically(file, html_page(figures, options.page_title));
    return {file};
  }
};

class JsonBackend final : public PlotBackend {
 public:
  std::string name() const override { return "json"; }
  std::string extension() const override { return ".json"; }
  std::string description() const override { return "the figure specs alone, for other tools"; }
  std::vector<std::filesystem::path> write(const std::filesystem::path& file, const std::vector<Figure>& figures,
                                           const PlotOptions& options) const override {
    auto specs = nlohmann::json::array();
    for (const auto& f : figures) specs.push_back(f.to_json());
    nlohmann::json page = {{"title", options.page_title}, {"figures", std::move(specs)}};
    write_file_atomically(file, page.dump(1) + "\n");
    return {file};
  }
};

std::string percent_decode(std::string_view text) {
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) && hex(text[i + 2])) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string out((text.size() / 4) * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) throw Error("static figure export: Chromium returned an image that is not base64");
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) out.pop_back();
  return out;
}

// Plotly's image export (Plotly.toImage) run on the figure's own page in headless Chromium.
class StaticImageBackend final : public PlotBackend {
 public:
  explicit StaticImageBackend(std::string format) : format_(std::move(format)) {}
  std::string name() const override { return format_; }
  std::string extension() const override { return "." + format_; }
  std::string description() const override {
    return format_ == "svg" ? "static vector image per figure (Plotly's export in headless Chromium)"
                            : "static bitmap per figure, width x height pixels (Plotly's export in headless Chromium)";
  }
  std::vector<std::filesystem::path> write(const std::filesystem::path& file, const std::vector<Figure>& figures,
                                           const PlotOptions& options) const override {
    if (figures.empty()) throw Error(fmt::format("{}: no figure to draw", file.string()));
    if (options.width < 16 || options.height < 16 || options.width > 8192 || options.height > 8192)
      throw Error(fmt::format("{}: image size {} x {} is outside 16..8192 pixels", file.string(), options.width,
                              options.height));
    for (const auto& figure : figures)  // checked before any file is written
      if (std::holds_alternative<AttentionView>(figure.body))
        throw Error(
            fmt::format("{}: figure '{}' is an attention view, which is interactive (HTML) only; draw the "
                        "patterns as heatmaps (plot type 'attention') for a static image",
                        file.string(), figure.title));
    std::vector<std::filesystem::path> written;
    for (std::size_t i = 0; i < figures.size(); ++i) {
      auto target = file;
      if (figures.size() > 1)
        target.replace_filename(fmt::format("{}-{}{}", file.stem().string(), i + 1, file.extension().string()));
      write_file_atomically(target, draw(figures[i], options, target));
      written.push_back(target);
    }
    return written;
  }

 private:
  std::string draw(const Figure& figure, const PlotOptions& options, const std::filesystem::path& target) const {
    if (!find_chromium()) throw Error(fmt::format("{}: {}", target.string(), chromium_missing_message()));
    ExportRequest request{.format = format_, .width = options.width, .height = options.height};
    auto page = target;
    page += ".page.html";
    write_file_atomically(page, html_page({figure}, "", &request));
    std::string dom;
    try {
      dom = chromium_dump_dom(page);
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(page, ec);
      throw;
    }
    std::error_code ec;
    std::filesystem::remove(page, ec);
    const auto url = element_text(dom, "arrakis-export").value_or("");
    const std::string prefix = format_ == "svg" ? "data:image/svg+xml," : "data:image/png;base64,";
    if (url.rfind(prefix, 0) != 0) {
      const auto report = element_text(dom, "arrakis-render-report").value_or("(no report)");
      throw Error(fmt::format("{}: Plotly could not draw figure '{}': {}", target.string(), figure.title, report));
    }
    const auto data = std::string_view(url).substr(prefix.size());
    return format_ == "svg" ? percent_decode(data) : base64_decode(data);
  }
  std::string format_;
};

struct BackendRegistry {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const PlotBackend>> backends;
  BackendRegistry() {
    for (std::shared_ptr<const PlotBackend> b :
         {std::shared_ptr<const PlotBackend>(std::make_shared<HtmlBackend>()),
          std::shared_ptr<const PlotBackend>(std::make_shared<JsonBackend>()),
          std::shared_ptr<const PlotBackend>(std::make_shared<StaticImageBackend>("svg")),
          std::shared_ptr<const PlotBackend>(std::make_shared<StaticImageBackend>("png"))})
      backends[b->name()] = b;
  }
};

BackendRegistry& backend_registry() {
  static BackendRegistry r;
  return r;
}

}  // namespace

void register_plot_backend(std::shared_ptr<const PlotBackend> backend) {
  if (!backend) throw Error("register_plot_backend: no backend");
  const auto name = backend->name();
  if (name.empty()) throw Error("register_plot_backend: a backend needs a name");
  std::lock_guard lock(backend_registry().mutex);
  backend_registry().backends[name] = std::move(backend);
}

std::vector<std::string> plot_backend_names() {
  std::lock_guard lock(backend_registry().mutex);
  std::vector<std::string> names;
  for (const auto& [name, _] : backend_registry().backends) names.push_back(name);
  return names;
}

namespace {

// Shared ownership: a backend replaced by register_plot_backend meanwhile stays alive while it draws.
std::shared_ptr<const PlotBackend> find_backend(std::string_view name) {
  {
    std::lock_guard lock(backend_registry().mutex);
    if (auto it = backend_registry().backends.find(std::string(name)); it != backend_registry().backends.end())
      return it->second;
  }
  throw Error(fmt::format("no plot backend '{}' (backends: {})", name, quoted_list(plot_backend_names())));
}

}  // namespace

const PlotBackend& plot_backend(std::string_view name) { return *find_backend(name); }

std::vector<std::filesystem::path> write_figures(const std::filesystem::path& file, const std::vector<Figure>& figures,
                                                 const PlotOptions& options, std::string_view backend) {
  if (!backend.empty()) return find_backend(backend)->write(file, figures, options);
  const auto extension = file.extension().string();
  std::vector<std::string> known;
  std::shared_ptr<const PlotBackend> chosen;
  {
    std::lock_guard lock(backend_registry().mutex);
    for (const auto& [name, b] : backend_registry().backends) {
      known.push_back(b->extension());
      if (b->extension() == extension) chosen = b;
    }
  }
  if (!chosen)
    throw Error(fmt::format("{}: cannot tell how to draw figures into a '{}' file (known: {})", file.string(),
                            extension, quoted_list(known)));
  return chosen->write(file, figures, options);
}

std::string figures_html(const std::vector<Figure>& figures, const PlotOptions& options) {
  return html_page(figures, options.page_title);
}

}  // namespace arrakis
