// Figures as data (figure.hpp) and the plot backends' registry: specs that serialise the same way every run, errors
// that name the figure, the Plotly translation's handling of tokens (repeated, or looking like markup) and colour
// scales. Drawing in a real browser: tests/cli/test_plots_browser.cpp.
#include <cmath>

#include "arrakis/error.hpp"
#include "arrakis/plots/figure.hpp"
#include "arrakis/plots/plot_backend.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

Figure token_heatmap() {
  auto values = torch::tensor({{-2.0f, 0.1f, 3.0f}, {0.5f, NAN, -1.0f}});
  return {.title = "patching <by> position & layer",
          .body = Heatmap{.values = values,
                          .rows = {.title = "layer"},
                          .cols = {.title = "position", .labels = {"the", "</script>", "the"}},
                          .value_title = "logit difference"},
          .caption = "two \"the\" tokens"};
}

std::vector<Figure> one_of_each() {
  return {
      token_heatmap(),
      {.title = "lens",
       .body = LinePlot{.x = {.title = "layer"},
                        .y = {.title = "logit difference"},
                        .series = {{.name = "accumulated", .y = {0.0, 0.5, 1.5}}}}},
      {.title = "z vs v",
       .body =
           ScatterPlot{.x = {.title = "z"},
                       .y = {.title = "v"},
                       .series = {{.name = "heads", .y = {1, 2}, .x = {0.5, 1.5}, .point_labels = {"L0H0", "L0H1"}}},
                       .diagonal = true}},
      {.title = "dla",
       .body = BarChart{.x = {.title = "component", .labels = {"embed", "0_attn_out"}},
                        .y = {.title = "logit"},
                        .series = {{.name = "mean", .y = {0.25, -0.75}}}}},
      {.title = "neurons",
       .body = Distribution{.x = {.title = "layer"},
                            .y = {.title = "activation"},
                            .groups = {{.label = "0", .values = {0.1, 0.2, 0.3}}}}}};
}

TEST(FigureSpec, SerialisesTheSameWayEveryTimeWithNumbersAtFloatPrecision) {
  auto figures = one_of_each();
  auto json = figures[0].to_json();
  EXPECT_EQ(json["type"], "heatmap");
  EXPECT_EQ(json["values"][0][1].dump(), "0.1");  // not 0.10000000149011612
  EXPECT_TRUE(json["values"][1][1].is_null());    // NaN
  EXPECT_EQ(json["cols"]["labels"][1], "</script>");
  std::vector<std::string> types;
  for (const auto& f : figures) types.push_back(f.to_json()["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"heatmap", "line", "scatter", "bar", "distribution"}));
  // The same figures give byte-identical specs and pages: no random ids, no timestamps.
  const PlotOptions options{.page_title = "page"};
  EXPECT_EQ(figures_html(figures, options), figures_html(one_of_each(), options));
  for (std::size_t i = 0; i < figures.size(); ++i) EXPECT_EQ(figures[i].to_json(), one_of_each()[i].to_json());
}

TEST(FigureSpec, InconsistentBodiesAreErrorsNamingTheFigure) {
  auto f = token_heatmap();
  std::get<Heatmap>(f.body).cols.labels.pop_back();
  EXPECT_NE(test::arrakis_error_of([&] { f.to_json(); })
                .find("figure 'patching <by> position & layer': 2 column labels for 3 "
                      "columns"),
            std::string::npos);
  Figure view{.title = "view", .body = AttentionView{.tokens = {"a", "b"}, .patterns = torch::ones({1, 3, 3})}};
  EXPECT_NE(test::arrakis_error_of([&] { view.to_json(); }).find("figure 'view': 2 tokens for 3 positions"),
            std::string::npos);
  f = token_heatmap();
  std::get<Heatmap>(f.body).values = torch::zeros({2, 3, 1});
  EXPECT_NE(test::arrakis_error_of([&] { f.to_json(); }).find("must be a [rows, cols] tensor"), std::string::npos);
  Figure line{.title = "lens", .body = LinePlot{.series = {{.name = "a", .y = {1, 2}, .x = {0}}}}};
  EXPECT_NE(
      test::arrakis_error_of([&] { line.to_json(); }).find("figure 'lens', series 'a': 1 x values for 2 y values"),
      std::string::npos);
  // The page is not written half: the error comes before any file.
  auto dir = test::temp_dir("plots-errors");
  EXPECT_NE(test::arrakis_error_of([&] { write_figures(dir / "bad.html", {line}, {}); }).find("series 'a'"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.html"));
}

TEST(FigureSpec, PlotlyKeepsRepeatedTokensEscapesMarkupAndCentresSignedValuesOnZero) {
  auto dir = test::temp_dir("plots-plotly");
  write_figures(dir / "page.html", {token_heatmap()}, {.page_title = "t"});
  const auto html = test::read_bytes(dir / "page.html");
  // A token "</script>" cannot end the page's script element; it reaches Plotly escaped for its HTML subset.
  EXPECT_EQ(html.find("</script>\""), std::string::npos);
  auto figures = test::page_figures(dir / "page.html");
  ASSERT_EQ(figures.size(), 1u);
  const auto& trace = figures[0]["data"][0];
  const auto& xaxis = figures[0]["layout"]["xaxis"];
  EXPECT_EQ(xaxis["tickvals"], nlohmann::json::parse("[0, 1, 2]"));  // two "the" stay two columns
  EXPECT_EQ(xaxis["ticktext"], nlohmann::json::parse(R"(["the", "&lt;/script&gt;", "the"])"));
  EXPECT_EQ(figures[0]["layout"]["title"]["text"], "patching &lt;by&gt; position &amp; layer");
  EXPECT_EQ(trace["zmid"], 0);  // both signs: diverging, symmetric
  EXPECT_EQ(trace["zmin"].get<double>(), -3.0);
  EXPECT_EQ(trace["zmax"].get<double>(), 3.0);
  EXPECT_EQ(trace["colorscale"].front()[1], "#053061");  // negative blue ... positive red
  EXPECT_EQ(trace["colorscale"].back()[1], "#67001f");
  EXPECT_TRUE(trace["z"][1][1].is_null());
  EXPECT_EQ(trace["customdata"][0][1][1], "&lt;/script&gt;");         // hover names the token
  EXPECT_EQ(figures[0]["layout"]["yaxis"]["autorange"], "reversed");  // layer 0 on top
  // Unsigned values: a sequential scale from white, no centre.
  auto f = token_heatmap();
  std::get<Heatmap>(f.body).values = torch::rand({2, 3});
  write_figures(dir / "unsigned.html", {f}, {});
  auto unsigned_trace = test::page_figures(dir / "unsigned.html")[0]["data"][0];
  EXPECT_FALSE(unsigned_trace.contains("zmid"));
  EXPECT_EQ(unsigned_trace["colorscale"].front()[1], "#f7fbff");
}

class RecordingBackend final : public PlotBackend {
 public:
  std::string name() const override { return "titles"; }
  std::string extension() const override { return ".titles"; }
  std::string description() const override { return "each figure's title on a line"; }
  std::vector<std::filesystem::path> write(const std::filesystem::path& file, const std::vector<Figure>& figures,
                                           const PlotOptions&) const override {
    std::string text;
    for (const auto& f : figures) text += f.title + "\n";
    test::write_file(file, text);
    return {file};
  }
};

TEST(PlotBackends, ChosenByNameOrExtensionAndAUsersBackendJoinsThem) {
  auto names = plot_backend_names();
  for (const char* name : {"html", "json", "svg", "png"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  auto dir = test::temp_dir("plots-backends");
  auto figures = one_of_each();
  // json: the specs alone.
  EXPECT_EQ(write_figures(dir / "f.json", figures, {.page_title = "p"}),
            (std::vector<std::filesystem::path>{dir / "f.json"}));
  auto json = test::read_json(dir / "f.json");
  EXPECT_EQ(json["title"], "p");
  ASSERT_EQ(json["figures"].size(), figures.size());
  EXPECT_EQ(json["figures"][2], figures[2].to_json());
  // Unknown names and extensions list what there is.
  auto error = test::arrakis_error_of([&] { plot_backend("vega"); });
  EXPECT_NE(error.find("no plot backend 'vega'"), std::string::npos) << error;
  EXPECT_NE(error.find("'html'"), std::string::npos) << error;
  error = test::arrakis_error_of([&] { write_figures(dir / "f.pdf", figures, {}); });
  EXPECT_NE(error.find("f.pdf: cannot tell how to draw figures into a '.pdf' file"), std::string::npos) << error;
  EXPECT_NE(error.find("'.svg'"), std::string::npos) << error;
  // A user's backend: by name, and by its extension.
  register_plot_backend(std::make_shared<RecordingBackend>());
  write_figures(dir / "named.txt", figures, {}, "titles");
  EXPECT_EQ(test::read_bytes(dir / "named.txt"), "patching <by> position & layer\nlens\nz vs v\ndla\nneurons\n");
  write_figures(dir / "by-extension.titles", {figures[1]}, {});
  EXPECT_EQ(test::read_bytes(dir / "by-extension.titles"), "lens\n");
}

}  // namespace
}  // namespace arrakis
