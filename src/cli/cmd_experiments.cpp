// arrakis experiments list|show|diff|runs|export: reads the experiment store an InterpretabilityBench (or
// `arrakis demo`) wrote under --save-dir.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string_view>

#include "arrakis/error.hpp"
#include "arrakis/experiments/experiment_results.hpp"
#include "arrakis/experiments/experiment_source.hpp"
#include "arrakis/experiments/experiment_store.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/terminal_text.hpp"
#include "util/write_file.hpp"

namespace arrakis::cli {
namespace {

// Reading never creates or changes a database: the store is opened read-only.
ExperimentStore open_existing(const std::string& save_dir) { return ExperimentStore(save_dir, StoreAccess::ReadOnly); }

// Every line printed from the store goes through terminal_safe: names, results and sources come from files.
template <class... Args>
void print(fmt::format_string<Args...> format, Args&&... args) {
  std::cout << terminal_safe(fmt::format(format, std::forward<Args>(args)...));
}

std::string compact(const nlohmann::json& value, std::size_t width) {
  auto text = value.is_null() ? std::string("-") : value.dump();
  return text.size() <= width ? text : text.substr(0, width - 3) + "...";
}

void print_run(const RunRecord& run) {
  print("run {} of {} (version {})\n", run.id, run.experiment, run.version.substr(0, 12));
  print("  status          {}{}\n", run.status, run.error.empty() ? "" : ": " + run.error);
  print("  started         {}\n  ended           {}\n  duration        {:.3f} s\n", run.started_at,
        run.ended_at.empty() ? "-" : run.ended_at, run.duration_s);
  print("  seed            {}\n  library         arrakis {}\n  process         {}\n", run.seed, run.library_version,
        run.pid);
  if (run.model.is_object())
    print("  model           {} ({}, {} parameters, weights sha256 {})\n", run.model.value("name", ""),
          run.model.value("family", ""), run.model.value("parameters", 0),
          run.model.value("weights_sha256", "").substr(0, 16));
  print("  arguments       {}\n", run.arguments.dump());
  print("  results\n");
  if (run.results.is_object())
    for (auto it = run.results.begin(); it != run.results.end(); ++it)
      print("    {:<20} {}\n", it.key(),
            is_tensor_reference(it.value())
                ? fmt::format("tensor {} {} (tensors/{}.safetensors)", it.value()["dtype"].get<std::string>(),
                              it.value()["shape"].dump(), it.value()["$tensor"].get<std::string>())
                : compact(it.value(), 200));
}

// The options of every subcommand (each uses its own few).
struct ExperimentsArgs {
  std::string save_dir = "experiments";
  std::string name, version, from, to, out;
  int64_t run = 0;
  bool json = false;
};

CommandReport list_experiments(const ExperimentsArgs& args) {
  auto store = open_existing(args.save_dir);
  auto summary = store.summary();
  auto experiments = nlohmann::json::array();
  for (const auto& e : summary) {
    auto versions = nlohmann::json::array();
    for (const auto& v : e.versions)
      versions.push_back(
          {{"hash", v.hash}, {"runs", v.runs}, {"created_at", v.created_at}, {"last_run_at", v.last_run_at}});
    experiments.push_back({{"name", e.name}, {"versions", versions}});
  }
  CommandReport report;
  report.json = {{"experiments", experiments}};
  report.print_text = [summary, save_dir = args.save_dir] {
    if (summary.empty()) {
      print("no experiments in {}\n", save_dir);
      return;
    }
    print("{:<32} {:<12} {:>5}  {:<24}  {}\n", "experiment", "version", "runs", "first run", "last run");
    for (const auto& e : summary)
      for (const auto& v : e.versions)
        print("{:<32} {:<12} {:>5}  {:<24}  {}\n", e.name, v.hash.substr(0, 12), v.runs, v.created_at, v.last_run_at);
  };
  return report;
}

CommandReport show_experiment(const ExperimentsArgs& args) {
  auto store = open_existing(args.save_dir);
  CommandReport report;
  if (args.run > 0) {
    auto run = store.run(args.run);
    report.json = run;
    report.print_text = [run] { print_run(run); };
    return report;
  }
  if (args.name.empty()) throw Error("experiments show: name an experiment (or --run ID)");
  auto versions = store.list_versions(args.name);
  auto version = args.version.empty() ? versions.back() : store.get_version(args.name, args.version);
  auto runs = store.runs(args.name, version.hash);
  report.json = version;
  report.json["runs"] = runs;
  const auto number =
      std::find_if(versions.begin(), versions.end(), [&](const auto& v) { return v.hash == version.hash; }) -
      versions.begin() + 1;
  report.print_text = [name = args.name, version, number, count = versions.size(), runs] {
    print("{} version {} ({} of {}; {} runs, first {})\n\n", name, version.hash, number, count, version.runs,
          version.created_at);
    print("{}\n", format_source(version.source));
    for (const auto& run : runs)
      print("  run {:>5}  {:<8} {}  {:8.3f} s  {}\n", run.id, run.status, run.started_at, run.duration_s,
            compact(run.results, 80));
  };
  return report;
}

CommandReport diff_versions(const ExperimentsArgs& args) {
  auto store = open_existing(args.save_dir);
  auto text = store.diff(args.name, args.from, args.to);
  CommandReport report;
  report.json = {{"experiment", args.name}, {"from", args.from}, {"to", args.to}, {"diff", text}};
  report.print_text = [text] {
    std::cout << terminal_safe(text.empty() ? "the two versions have the same source\n" : text);
  };
  return report;
}

CommandReport list_runs(const ExperimentsArgs& args) {
  auto store = open_existing(args.save_dir);
  auto records = store.runs(args.name, args.version);
  CommandReport report;
  report.json = {{"runs", records}};
  report.print_text = [records] {
    print("{:>5}  {:<12} {:<8} {:<24} {:>10}  {:<30} {}\n", "run", "version", "status", "started", "seconds",
          "arguments", "results");
    for (const auto& run : records)
      print("{:>5}  {:<12} {:<8} {:<24} {:>10.3f}  {:<30} {}\n", run.id, run.version.substr(0, 12), run.status,
            run.started_at, run.duration_s, compact(run.arguments, 30), compact(run.results, 60));
  };
  return report;
}

void export_experiments(const ExperimentsArgs& args) {
  auto store = open_existing(args.save_dir);
  auto text = store.export_json(args.name).dump(2) + "\n";
  if (args.out.empty()) {
    std::cout << text;
    return;
  }
  // Never over the store itself (or its journal), nor over any other SQLite database.
  std::error_code ec;
  const std::filesystem::path out_path(args.out);
  for (const auto* suffix : {"", "-wal", "-shm"}) {
    const std::filesystem::path part = store.database_path().string() + suffix;
    if (std::filesystem::equivalent(out_path, part, ec))  // false (with ec set) when either does not exist
      throw Error(fmt::format("--out {} is the experiment database itself: the export would replace it", args.out));
  }
  if (std::ifstream existing(out_path, std::ios::binary); existing) {
    char header[16] = {};
    existing.read(header, sizeof header);
    if (existing.gcount() == 16 && std::string_view(header, 15) == "SQLite format 3")
      throw Error(fmt::format("--out {} is an SQLite database: the export would replace it", args.out));
  }
  write_file_atomically(out_path, text);  // a failed write leaves any earlier export whole
  fmt::print(stderr, "wrote {}\n", args.out);
}

// A subcommand with --save-dir, running `fn` on the shared options.
CLI::App* add_subcommand(CLI::App* cmd, const std::shared_ptr<ExperimentsArgs>& args, const char* name,
                         const char* help, std::function<void(const ExperimentsArgs&)> fn) {
  auto* sub = cmd->add_subcommand(name, help);
  sub->add_option("--save-dir", args->save_dir, "Folder holding experiments.sqlite (default ./experiments)");
  sub->callback([args, fn] { fn(*args); });
  return sub;
}

// A subcommand that reports (text, or --json).
CLI::App* add_report_subcommand(CLI::App* cmd, const std::shared_ptr<ExperimentsArgs>& args, const char* name,
                                const char* help, CommandReport (*compute)(const ExperimentsArgs&)) {
  auto* sub = add_subcommand(cmd, args, name, help,
                             [compute](const ExperimentsArgs& a) { emit(compute(a), {.json = a.json}); });
  sub->add_flag("--json", args->json, "Print one JSON object");
  return sub;
}

}  // namespace

void register_experiments(CLI::App& app) {
  auto* cmd = app.add_subcommand("experiments",
                                 "Experiments logged by an InterpretabilityBench: versions, runs, "
                                 "source diffs, export");
  cmd->require_subcommand(1);
  auto args = std::make_shared<ExperimentsArgs>();

  add_report_subcommand(cmd, args, "list", "Every experiment with its versions and their run counts", list_experiments);

  auto* show = add_report_subcommand(
      cmd, args, "show", "A version's source (default: the newest) and its runs, or one run", show_experiment);
  show->add_option("name", args->name, "Experiment");
  show->add_option("version", args->version, "Version hash or a prefix of it (at least 4 digits)");
  show->add_option("--run", args->run, "Show this run instead");

  auto* diff = add_report_subcommand(cmd, args, "diff", "Unified diff of two versions' sources", diff_versions);
  diff->add_option("name", args->name, "Experiment")->required();
  diff->add_option("from", args->from, "Older version (hash or prefix)")->required();
  diff->add_option("to", args->to, "Newer version (hash or prefix)")->required();

  auto* runs =
      add_report_subcommand(cmd, args, "runs", "The runs of an experiment (of one version when given)", list_runs);
  runs->add_option("name", args->name, "Experiment")->required();
  runs->add_option("version", args->version, "Version hash or prefix");

  auto* exp = add_subcommand(cmd, args, "export", "Everything (or one experiment) as JSON: versions with sources, runs",
                             export_experiments);
  exp->add_option("name", args->name, "Only this experiment");
  exp->add_option("--out", args->out, "Write to this file (default: standard output)");
}

}  // namespace arrakis::cli
