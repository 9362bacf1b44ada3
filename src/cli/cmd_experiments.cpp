// arrakis experiments list|show|diff|runs|export: reads the experiment store an InterpretabilityBench (or
// `arrakis demo`) wrote under --save-dir.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "arrakis/bench/experiment_results.hpp"
#include "arrakis/bench/experiment_source.hpp"
#include "arrakis/bench/experiment_store.hpp"
#include "arrakis/error.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {
namespace {

// Reading never creates a database: a folder without one is an error that says how to make one.
ExperimentStore open_existing(const std::string& save_dir) {
  auto path = std::filesystem::path(save_dir) / "experiments.sqlite";
  if (!std::filesystem::exists(path))
    throw Error(fmt::format("no experiment database in {} (expected {}); run `arrakis demo --save-dir {}` or log an "
                            "experiment with an InterpretabilityBench first",
                            save_dir, path.string(), save_dir));
  return ExperimentStore(save_dir);
}

std::string compact(const nlohmann::json& value, std::size_t width) {
  auto text = value.is_null() ? std::string("-") : value.dump();
  return text.size() <= width ? text : text.substr(0, width - 3) + "...";
}

void print_run(const RunRecord& run) {
  fmt::print("run {} of {} (version {})\n", run.id, run.experiment, run.version.substr(0, 12));
  fmt::print("  status          {}{}\n", run.status, run.error.empty() ? "" : ": " + run.error);
  fmt::print("  started         {}\n  ended           {}\n  duration        {:.3f} s\n", run.started_at,
             run.ended_at.empty() ? "-" : run.ended_at, run.duration_s);
  fmt::print("  seed            {}\n  library         arrakis {}\n  process         {}\n", run.seed,
             run.library_version, run.pid);
  if (run.model.is_object())
    fmt::print("  model           {} ({}, {} parameters, weights sha256 {})\n", run.model.value("name", ""),
               run.model.value("family", ""), run.model.value("parameters", 0),
               run.model.value("weights_sha256", "").substr(0, 16));
  fmt::print("  arguments       {}\n", run.arguments.dump());
  fmt::print("  results\n");
  if (run.results.is_object())
    for (auto it = run.results.begin(); it != run.results.end(); ++it)
      fmt::print("    {:<20} {}\n", it.key(),
                 is_tensor_reference(it.value())
                     ? fmt::format("tensor {} {} (tensors/{}.safetensors)", it.value()["dtype"].get<std::string>(),
                                   it.value()["shape"].dump(), it.value()["$tensor"].get<std::string>())
                     : compact(it.value(), 200));
}

}  // namespace

void register_experiments(CLI::App& app) {
  auto* cmd = app.add_subcommand("experiments", "Experiments logged by an InterpretabilityBench: versions, runs, "
                                                "source diffs, export");
  cmd->require_subcommand(1);
  auto save_dir = std::make_shared<std::string>("experiments");
  auto add_save_dir = [&](CLI::App* sub) {
    sub->add_option("--save-dir", *save_dir, "Folder holding experiments.sqlite (default ./experiments)");
  };

  auto list_json = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "Every experiment with its versions and their run counts");
  add_save_dir(list);
  list->add_flag("--json", *list_json, "Print {\"experiments\": [{\"name\", \"versions\": [{\"hash\", \"runs\", ...}]}]}");
  list->callback([save_dir, list_json] {
    auto store = open_existing(*save_dir);
    auto summary = store.summary();
    if (*list_json) {
      auto experiments = nlohmann::json::array();
      for (const auto& e : summary) {
        auto versions = nlohmann::json::array();
        for (const auto& v : e.versions)
          versions.push_back({{"hash", v.hash}, {"runs", v.runs}, {"created_at", v.created_at},
                              {"last_run_at", v.last_run_at}});
        experiments.push_back({{"name", e.name}, {"versions", versions}});
      }
      std::cout << nlohmann::json{{"experiments", experiments}}.dump(2) << "\n";
      return;
    }
    if (summary.empty()) {
      fmt::print("no experiments in {}\n", *save_dir);
      return;
    }
    fmt::print("{:<32} {:<12} {:>5}  {:<24}  {}\n", "experiment", "version", "runs", "first run", "last run");
    for (const auto& e : summary)
      for (const auto& v : e.versions)
        fmt::print("{:<32} {:<12} {:>5}  {:<24}  {}\n", e.name, v.hash.substr(0, 12), v.runs, v.created_at,
                   v.last_run_at);
  });

  auto show_name = std::make_shared<std::string>();
  auto show_version = std::make_shared<std::string>();
  auto show_run = std::make_shared<int64_t>(0);
  auto show_json = std::make_shared<bool>(false);
  auto* show = cmd->add_subcommand("show", "A version's source (default: the newest) and its runs, or one run");
  add_save_dir(show);
  show->add_option("name", *show_name, "Experiment");
  show->add_option("version", *show_version, "Version hash or a prefix of it (at least 4 digits)");
  show->add_option("--run", *show_run, "Show this run instead");
  show->add_flag("--json", *show_json, "Print JSON");
  show->callback([save_dir, show_name, show_version, show_run, show_json] {
    auto store = open_existing(*save_dir);
    if (*show_run > 0) {
      auto run = store.run(*show_run);
      if (*show_json)
        std::cout << nlohmann::json(run).dump(2) << "\n";
      else
        print_run(run);
      return;
    }
    if (show_name->empty()) throw Error("experiments show: name an experiment (or --run ID)");
    auto versions = store.list_versions(*show_name);
    auto version = show_version->empty() ? versions.back() : store.get_version(*show_name, *show_version);
    if (*show_json) {
      nlohmann::json out = version;
      out["runs"] = store.runs(*show_name, version.hash);
      std::cout << out.dump(2) << "\n";
      return;
    }
    fmt::print("{} version {} ({} of {}; {} runs, first {})\n\n", *show_name, version.hash, 
               std::find_if(versions.begin(), versions.end(), [&](const auto& v) { return v.hash == version.hash; }) -
                   versions.begin() + 1,
               versions.size(), version.runs, version.created_at);
    fmt::print("{}\n", format_source(version.source));
    for (const auto& run : store.runs(*show_name, version.hash))
      fmt::print("  run {:>5}  {:<8} {}  {:8.3f} s  {}\n", run.id, run.status, run.started_at, run.duration_s,
                 compact(run.results, 80));
  });

  auto diff_name = std::make_shared<std::string>();
  auto diff_from = std::make_shared<std::string>();
  auto diff_to = std::make_shared<std::string>();
  auto* diff = cmd->add_subcommand("diff", "Unified diff of two versions' sources");
  add_save_dir(diff);
  diff->add_option("name", *diff_name, "Experiment")->required();
  diff->add_option("from", *diff_from, "Older version (hash or prefix)")->required();
  diff->add_option("to", *diff_to, "Newer version (hash or prefix)")->required();
  diff->callback([save_dir, diff_name, diff_from, diff_to] {
    auto store = open_existing(*save_dir);
    auto text = store.diff(*diff_name, *diff_from, *diff_to);
    std::cout << (text.empty() ? "the two versions have the same source\n" : text);
  });

  auto runs_name = std::make_shared<std::string>();
  auto runs_version = std::make_shared<std::string>();
  auto runs_json = std::make_shared<bool>(false);
  auto* runs = cmd->add_subcommand("runs", "The runs of an experiment (of one version when given)");
  add_save_dir(runs);
  runs->add_option("name", *runs_name, "Experiment")->required();
  runs->add_option("version", *runs_version, "Version hash or prefix");
  runs->add_flag("--json", *runs_json, "Print JSON");
  runs->callback([save_dir, runs_name, runs_version, runs_json] {
    auto store = open_existing(*save_dir);
    auto records = store.runs(*runs_name, *runs_version);
    if (*runs_json) {
      std::cout << nlohmann::json{{"runs", records}}.dump(2) << "\n";
      return;
    }
    fmt::print("{:>5}  {:<12} {:<8} {:<24} {:>10}  {:<30} {}\n", "run", "version", "status", "started", "seconds",
               "arguments", "results");
    for (const auto& run : records)
      fmt::print("{:>5}  {:<12} {:<8} {:<24} {:>10.3f}  {:<30} {}\n", run.id, run.version.substr(0, 12), run.status,
                 run.started_at, run.duration_s, compact(run.arguments, 30), compact(run.results, 60));
  });

  auto export_name = std::make_shared<std::string>();
  auto export_out = std::make_shared<std::string>();
  auto* exp = cmd->add_subcommand("export", "Everything (or one experiment) as JSON: versions with sources, runs");
  add_save_dir(exp);
  exp->add_option("name", *export_name, "Only this experiment");
  exp->add_option("--out", *export_out, "Write to this file (default: standard output)");
  exp->callback([save_dir, export_name, export_out] {
    auto store = open_existing(*save_dir);
    auto text = store.export_json(*export_name).dump(2) + "\n";
    if (export_out->empty()) {
      std::cout << text;
      return;
    }
    std::ofstream out(*export_out);
    out << text;
    if (!out) throw Error(fmt::format("cannot write {}", *export_out));
    fmt::print(stderr, "wrote {}\n", *export_out);
  });
}

}  // namespace arrakis::cli
