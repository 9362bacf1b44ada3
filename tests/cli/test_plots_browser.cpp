// Figures drawn in a real browser: headless Chromium (Debian's chromium; scripts/setup.sh installs it), a fresh
// profile and no network, opens a page of every plot type and reports what Plotly drew; a screenshot lands in the
// build folder. Static export: SVG and PNG files at the size asked for. Skips, saying why, without Chromium.
#include <png.h>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/plots/figure.hpp"
#include "arrakis/plots/plot_backend.hpp"
#include "arrakis/plots/plot_spec.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "plots/headless_chromium.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

#define ARRAKIS_REQUIRE_CHROMIUM() \
  if (!find_chromium()) GTEST_SKIP() << chromium_missing_message()

std::filesystem::path figures_dir() {
  auto dir = std::filesystem::path(ARRAKIS_CLI_PATH).parent_path() / "test-figures";
  std::filesystem::create_directories(dir);
  return dir;
}

struct Pixels {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> rgba;
};

// libpng's simplified reader: the whole image as RGBA.
Pixels read_png(const std::filesystem::path& file) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, file.c_str())) throw std::runtime_error("not a PNG: " + file.string());
  image.format = PNG_FORMAT_RGBA;
  Pixels p{image.width, image.height, std::vector<uint8_t>(PNG_IMAGE_SIZE(image))};
  if (!png_image_finish_read(&image, nullptr, p.rgba.data(), 0, nullptr))
    throw std::runtime_error("unreadable PNG: " + file.string());
  return p;
}

// Pixels far from white (ink: cells, lines, text).
double ink_fraction(const Pixels& p) {
  std::size_t ink = 0;
  for (std::size_t i = 0; i + 3 < p.rgba.size(); i += 4)
    if (p.rgba[i] + p.rgba[i + 1] + p.rgba[i + 2] < 3 * 200) ++ink;
  return static_cast<double>(ink) / static_cast<double>(p.width * p.height);
}

// One figure of every type the backends draw, with the marks each should show.
struct Expected {
  Figure figure;
  nlohmann::json marks;  // the counts the page reports for it (any other kind of mark: none)
};

std::vector<Expected> every_plot_type() {
  auto grid = torch::arange(15, torch::kFloat32).reshape({3, 5}) - 7;
  grid.index_put_({1, 1}, NAN);
  std::vector<std::string> tokens = {"When", " Mary", " and", " John", " Mary"};
  std::vector<Expected> all;
  all.push_back({{.title = "Heatmap, diverging, with token columns",
                  .body = Heatmap{.values = grid,
                                  .rows = {.title = "layer"},
                                  .cols = {.title = "position", .labels = tokens},
                                  .value_title = "logit difference"},
                  .annotations = {{.x = 4, .y = 2, .text = "largest"}}},
                 {{"cells", 14}, {"heatmap_images", 1}, {"annotations", 1}}});
  std::vector<std::vector<std::string>> text(2, std::vector<std::string>(3));
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) text[r][c] = fmt::format("tok{}{}", r, c);
  all.push_back({{.title = "Logit lens table",
                  .body = Heatmap{.values = torch::rand({2, 3}),
                                  .rows = {.title = "layer"},
                                  .cols = {.title = "position"},
                                  .value_title = "probability",
                                  .cell_text = text}},
                 {{"cells", 6}, {"heatmap_images", 1}}});
  all.push_back({{.title = "Lines",
                  .body = LinePlot{.x = {.title = "layer", .labels = {"embed", "L0", "L1", "L2", "L3", "final"}},
                                   .y = {.title = "logit difference"},
                                   .series = {{.name = "accumulated", .y = {0, 0.5, 1, 2, 2.5, 3}},
                                              {.name = "per layer", .y = {0, 0.5, 0.5, 1, 0.5, 0.5}}}}},
                 {{"lines", 2}, {"points", 12}}});
  all.push_back({{.title = "Scatter",
                  .body = ScatterPlot{.x = {.title = "z patching"},
                                      .y = {.title = "v patching"},
                                      .series = {{.name = "heads",
                                                  .y = {0.1, 0.2, 0.3, 0.5, 0.4, 0.1, 0.0, -0.1, 0.9, 0.2},
                                                  .x = {0.2, 0.1, 0.4, 0.5, 0.3, 0.0, 0.1, -0.2, 1.0, 0.3},
                                                  .point_labels = {"L0H0", "L0H1", "L0H2", "L0H3", "L1H0", "L1H1",
                                                                   "L1H2", "L1H3", "L2H0", "L2H1"}}},
                                      .diagonal = true}},
                 {{"points", 10}}});
  all.push_back(
      {{.title = "Bars",
        .body = BarChart{.x = {.title = "component", .labels = {"embed", "0_attn", "0_mlp", "1_attn"}},
                         .y = {.title = "logit"},
                         .series = {{.name = "a", .y = {1, -2, 3, 0.5}}, {.name = "b", .y = {0.5, 1, -1, 2}}}}},
       {{"bars", 8}}});
  all.push_back({{.title = "Violins",
                  .body = Distribution{.x = {.title = "layer"},
                                       .y = {.title = "activation"},
                                       .groups = {{.label = "0", .values = {0, 0.1, 0.5, 1, 2}},
                                                  {.label = "1", .values = {-1, 0, 0.2, 0.3}},
                                                  {.label = "2", .values = {0.5, 0.6, 3}}}}},
                 {{"violins", 3}, {"boxes", 3}}});  // each violin holds its box
  all.push_back({{.title = "Boxes",
                  .body = Distribution{.x = {.title = "layer"},
                                       .y = {.title = "activation"},
                                       .groups = {{.label = "0", .values = {0, 0.1, 0.5, 1, 2}},
                                                  {.label = "1", .values = {-1, 0, 0.2, 0.3}}},
                                       .violin = false}},
                 {{"boxes", 2}}});
  auto pattern =
      torch::softmax(torch::randn({2, 5, 5}, seeded_generator(4)) + torch::full({5, 5}, -INFINITY).triu(1), -1);
  all.push_back({{.title = "Attention view",
                  .body = AttentionView{.tokens = tokens, .patterns = pattern, .head_labels = {"L0H0", "L0H1"}}},
                 {{"tokens", 10}, {"head_buttons", 3}}});
  return all;
}

TEST(PlotsInBrowser, EveryPlotTypeRendersWithItsMarksAndNoScriptError) {
  ARRAKIS_REQUIRE_CHROMIUM();
  auto expected = every_plot_type();
  std::vector<Figure> figures;
  for (const auto& e : expected) figures.push_back(e.figure);
  const auto page = figures_dir() / "every-plot-type.html";
  write_figures(page, figures, {.page_title = "Every plot type"});
  const auto dom = chromium_dump_dom(page);
  auto report_text = element_text(dom, "arrakis-render-report");
  ASSERT_TRUE(report_text && !report_text->empty()) << "the page reported nothing";
  auto report = nlohmann::json::parse(*report_text);
  EXPECT_EQ(report["errors"], nlohmann::json::array()) << report.dump(1);
  ASSERT_EQ(report["figures"].size(), expected.size()) << report.dump(1);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& drawn = report["figures"][i];
    EXPECT_EQ(drawn["type"], figures[i].type());
    for (const auto& [mark, count] : drawn.items()) {  // every kind of mark: those not expected must be absent
      if (mark != "type") {
        EXPECT_EQ(count, expected[i].marks.value(mark, 0))
            << figures[i].title << ": " << mark << " in " << drawn.dump();
      }
    }
  }
  // What a person sees: a screenshot in the build folder, with cells, lines and text on it.
  const auto shot = figures_dir() / "every-plot-type.png";
  std::filesystem::remove(shot);
  chromium_screenshot(page, shot, 1200, 1800);
  auto pixels = read_png(shot);
  EXPECT_EQ(pixels.width, 1200u);
  EXPECT_EQ(pixels.height, 1800u);
  EXPECT_GT(ink_fraction(pixels), 0.02) << shot;
}

// What the page should report for a figure, from its own spec: a heatmap's non-empty cells, a line plot's lines and
// points, a distribution's violins (each with its box).
nlohmann::json marks_of(const Figure& f) {
  auto spec = f.to_json();
  nlohmann::json marks = nlohmann::json::object();
  if (f.type() == "heatmap") {
    int64_t cells = 0;
    for (const auto& row : spec["values"])
      for (const auto& v : row) cells += v.is_null() ? 0 : 1;
    marks = {{"cells", cells}, {"heatmap_images", 1}};
  } else if (f.type() == "line") {
    int64_t points = 0;
    for (const auto& s : spec["series"]) points += static_cast<int64_t>(s["y"].size());
    marks = {{"lines", spec["series"].size()}, {"points", points}};
  } else if (f.type() == "distribution") {
    marks = {{"violins", spec["groups"].size()}, {"boxes", spec["groups"].size()}};
  } else if (f.type() == "attention_view") {  // each token twice (attends to, attended by); a button per head + mean
    marks = {{"tokens", 2 * spec["tokens"].size()}, {"head_buttons", spec["head_labels"].size() + 1}};
  }
  return marks;
}

TEST(PlotsInBrowser, TheSeedsPlotTypesOnTheDemoModelRenderWhatTheirSpecsHold) {
  ARRAKIS_REQUIRE_CHROMIUM();
  auto model = load_demo_model();
  auto tokens = torch::randint(1, model.config().d_vocab, {1, 10}, seeded_generator(2), torch::kInt64);
  std::vector<PlotSpec> specs;
  for (const auto& type : plot_types()) specs.push_back({.plot_type = type, .layer = 1, .top_k = 2});
  auto figures = plot_results(model, specs, tokens);
  const auto page = figures_dir() / "seed-plot-types.html";
  write_figures(page, figures, {.page_title = "The seeds' plot types on the demo model"});
  auto report = nlohmann::json::parse(element_text(chromium_dump_dom(page), "arrakis-render-report").value_or("{}"));
  EXPECT_EQ(report["errors"], nlohmann::json::array()) << report.dump(1);
  ASSERT_EQ(report["figures"].size(), figures.size()) << report.dump(1);
  for (std::size_t i = 0; i < figures.size(); ++i) {
    const auto expected = marks_of(figures[i]);
    for (const auto& [mark, count] : report["figures"][i].items())
      if (mark != "type") {
        EXPECT_EQ(count, expected.value(mark, 0)) << figures[i].title << ": " << mark;
      }
  }
  chromium_screenshot(page, figures_dir() / "seed-plot-types.png", 1200, 2400);
}

TEST(PlotsInBrowser, StaticSvgAndPngOfAHeatmapAndALinePlotHaveTheSizeAskedFor) {
  ARRAKIS_REQUIRE_CHROMIUM();
  auto expected = every_plot_type();
  const std::vector<Figure> figures = {expected[0].figure, expected[2].figure};
  const auto dir = figures_dir();
  auto svgs = write_figures(dir / "static.svg", figures, {.width = 640, .height = 400});
  ASSERT_EQ(svgs, (std::vector<std::filesystem::path>{dir / "static-1.svg", dir / "static-2.svg"}));
  for (const auto& svg : svgs) {
    const auto text = test::read_bytes(svg);
    EXPECT_TRUE(text.starts_with("<svg")) << svg;
    EXPECT_NE(text.find("width=\"640\""), std::string::npos) << svg;
    EXPECT_NE(text.find("height=\"400\""), std::string::npos) << svg;
    EXPECT_NE(text.find("</svg>"), std::string::npos) << svg;
  }
  EXPECT_NE(test::read_bytes(svgs[1]).find("logit difference"), std::string::npos);  // the axis title is text
  auto pngs = write_figures(dir / "static.png", figures, {.width = 640, .height = 400});
  ASSERT_EQ(pngs.size(), 2u);
  for (const auto& png : pngs) {
    auto pixels = read_png(png);
    EXPECT_EQ(pixels.width, 640u) << png;
    EXPECT_EQ(pixels.height, 400u) << png;
    EXPECT_GT(ink_fraction(pixels), 0.01) << png;
  }
  // An attention view is interactive only: refused before any file is written.
  auto error = test::arrakis_error_of([&] {
    write_figures(dir / "view.png", {figures[0], expected.back().figure}, {});
  });
  EXPECT_NE(error.find("figure 'Attention view' is an attention view, which is interactive (HTML) only"),
            std::string::npos)
      << error;
  EXPECT_FALSE(std::filesystem::exists(dir / "view-1.png"));
  // One figure: exactly the file named.
  EXPECT_EQ(write_figures(dir / "one.png", {figures[0]}, {}), (std::vector<std::filesystem::path>{dir / "one.png"}));
}

}  // namespace
}  // namespace arrakis
