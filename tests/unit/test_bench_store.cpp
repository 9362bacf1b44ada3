// The experiment store and the bench's tracking: versions by source hash, what a run records, tensors beside the
// database, concurrent writers, a writer killed mid-run, and files that are not an experiment database.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/experiments/content_hash.hpp"
#include "arrakis/experiments/interpretability_bench.hpp"
#include "arrakis/experiments/source_diff.hpp"
#include "arrakis/runtime.hpp"
#include "test_support.hpp"

extern char** environ;

namespace arrakis {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Two ARRAKIS_EXPERIMENT sites with the same code: what a re-run of an unchanged program does.
auto sum_experiment(InterpretabilityBench& bench) {
  return ARRAKIS_EXPERIMENT(bench, "sum", (int a, int b), { return a + b; });
}

TEST(BenchStore, UnchangedCodeAddsRunsToOneVersionAndAnEditMakesANewOne) {
  auto dir = test::temp_dir("bench-versions");
  auto model = load_demo_model();
  {
    InterpretabilityBench bench(model, dir);
    auto sum = sum_experiment(bench);
    EXPECT_EQ(sum(2, 3), 5);
    EXPECT_EQ(sum(4, 5), 9);
  }
  {
    InterpretabilityBench bench(model, dir);  // a new session over the same folder
    EXPECT_EQ(sum_experiment(bench)(1, 1), 2);
    auto versions = bench.list_versions("sum");
    ASSERT_EQ(versions.size(), 1u);
    EXPECT_EQ(versions[0].runs, 3);
    // What is stored is exactly the code that ran, and the version is the SHA-256 of that text alone.
    EXPECT_EQ(bench.get_version("sum", versions[0].hash).source, "(int a, int b) { return a + b; }");
    EXPECT_EQ(versions[0].hash, sha256_hex("(int a, int b) { return a + b; }"));

    // One character of the body changed: a new version holding the new code.
    auto edited = ARRAKIS_EXPERIMENT(bench, "sum", (int a, int b), { return a - b; });
    EXPECT_EQ(edited(2, 3), -1);
    versions = bench.list_versions("sum");
    ASSERT_EQ(versions.size(), 2u);
    EXPECT_EQ(versions[1].runs, 1);
    EXPECT_EQ(versions[1].hash, edited.version());
    EXPECT_EQ(bench.get_version("sum", versions[1].hash.substr(0, 8)).source, "(int a, int b) { return a - b; }");
    EXPECT_EQ(bench.runs("sum", versions[0].hash).size(), 3u);
    EXPECT_EQ(bench.runs("sum").size(), 4u);

    auto diff = bench.diff("sum", versions[0].hash, versions[1].hash);
    EXPECT_NE(diff.find("-  return a + b;\n+  return a - b;\n"), std::string::npos) << diff;
    EXPECT_NE(test::error_of([&] { bench.get_version("sum", "ffff0000"); }).find("has no version ffff0000"),
              std::string::npos);
    EXPECT_NE(test::error_of([&] { bench.list_versions("product"); }).find("experiments: sum"), std::string::npos);
  }
}

TEST(BenchStore, ARunRecordsArgumentsResultsModelVersionSeedAndTimes) {
  auto dir = test::temp_dir("bench-record");
  auto model = load_demo_model();
  InterpretabilityBench bench(model, dir);
  bench.set_seed(1234);
  auto tokens = torch::tensor({{0, 5, 9, 5}}, torch::kInt64);
  auto experiment = ARRAKIS_EXPERIMENT(bench, "attention", (const torch::Tensor& input, std::string label), {
    auto [logits, cache] = bench.model().run_with_cache(input, NameFilter{"blocks.0.attn.hook_pattern"});
    return ExperimentResults{{"pattern", cache["blocks.0.attn.hook_pattern"]},
                             {"label", label},
                             {"max_logit", logits.max().item<double>()},
                             {"noise", torch::rand({}).item<double>()}};
  });
  experiment(tokens, std::string("repeat"));
  auto run = bench.last_run();
  EXPECT_EQ(run.status, "ok");
  EXPECT_EQ(run.arguments["label"], "repeat");
  ASSERT_TRUE(is_tensor_reference(run.arguments["input"]));
  EXPECT_TRUE(torch::equal(bench.load_tensor(run.arguments["input"]), tokens));
  EXPECT_EQ(run.results["label"], "repeat");
  ASSERT_TRUE(is_tensor_reference(run.results["pattern"]));
  auto pattern = bench.load_tensor(run.results["pattern"]);
  auto [logits, cache] = model.run_with_cache(tokens);
  EXPECT_TRUE(torch::equal(pattern, cache["blocks.0.attn.hook_pattern"]));
  EXPECT_EQ(run.results["pattern"]["shape"],
            nlohmann::json(std::vector<int64_t>(pattern.sizes().begin(), pattern.sizes().end())));
  EXPECT_EQ(run.results["pattern"]["dtype"], "F32");
  EXPECT_TRUE(std::filesystem::exists(dir / "tensors" /
                                      (run.results["pattern"]["$tensor"].get<std::string>() + ".safetensors")));
  EXPECT_DOUBLE_EQ(run.results["max_logit"].get<double>(), logits.max().item<double>());
  // Model identity, library version, seed, times.
  EXPECT_EQ(run.model["weights_sha256"], weight_fingerprint(model));
  EXPECT_EQ(run.model["config"]["n_layers"], model.config().n_layers);
  EXPECT_EQ(run.library_version, version());
  EXPECT_EQ(run.seed, 1234u);
  EXPECT_LE(run.started_at, run.ended_at);
  EXPECT_GT(run.duration_s, 0.0);
  // The seed is applied before every run: the same random draws each time.
  experiment(tokens, std::string("again"));
  EXPECT_EQ(bench.last_run().results["noise"], run.results["noise"]);
  // Equal tensors share one file.
  EXPECT_EQ(bench.last_run().results["pattern"], run.results["pattern"]);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "tensors"), {}), 2);

  // A failing experiment is recorded as failed, and its exception goes on.
  auto failing = ARRAKIS_EXPERIMENT(bench, "failing", (int n), {
    if (n > 0) throw Error("n must not be positive");
    return n;
  });
  EXPECT_THROW(failing(3), Error);
  EXPECT_EQ(bench.last_run().status, "failed");
  EXPECT_EQ(bench.last_run().error, "n must not be positive");
  EXPECT_EQ(bench.store().integrity_check(), "ok");
}

TEST(BenchStore, WeightFingerprintChangesWithAnyWeight) {
  auto model = load_demo_model();
  auto before = weight_fingerprint(model);
  EXPECT_EQ(before, weight_fingerprint(model));
  EXPECT_EQ(before.size(), 64u);
  torch::NoGradGuard no_grad;
  model.weights().W_U.view(-1)[7] += 1e-3;
  EXPECT_NE(before, weight_fingerprint(model));
}

TEST(BenchStore, DiffMatchesGnuDiff) {
  auto dir = test::temp_dir("bench-diff");
  std::string a =
      "{\n  int x = 1;\n  int y = 2;\n  int z = 3;\n  int w = 4;\n  int v = 5;\n  int u = 6;\n  int t = 7;\n"
      "  int s = 8;\n  int r = 9;\n  return x;\n}\n";
  std::string b =
      "{\n  int x = 1;\n  int y = 20;\n  int z = 3;\n  int w = 4;\n  int v = 5;\n  int u = 6;\n  int t = 7;\n"
      "  int s = 8;\n  int r = 9;\n  int q = 10;\n  return x + q;\n}\n";
  for (auto [before, after] : {std::pair{a, b}, std::pair{b, a}, std::pair{std::string("x\n"), std::string("y\n")}}) {
    std::ofstream(dir / "a") << before;
    std::ofstream(dir / "b") << after;
    std::string command = "diff -u --label A --label B " + (dir / "a").string() + " " + (dir / "b").string();
    std::string expected;
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) expected.append(buffer, n);
    ::pclose(pipe);
    EXPECT_EQ(unified_diff(before, after, "A", "B"), expected);
  }
  EXPECT_EQ(unified_diff(a, a, "A", "B"), "");
}

TEST(BenchStore, SourcesAreLaidOutForReading) {
  EXPECT_EQ(format_source("(int n) { int s = 0; for (int i = 0; i < n; ++i) { s += i; } if (s > 3) { return \"{;}\"; "
                          "} else { return std::string(\"x\"); } }"),
            "(int n) {\n  int s = 0;\n  for (int i = 0; i < n; ++i) {\n    s += i;\n  }\n  if (s > 3) {\n"
            "    return \"{;}\";\n  } else {\n    return std::string(\"x\");\n  }\n}\n");
  EXPECT_EQ(format_source("{ return ExperimentResults{{\"a\", 1}, {\"b\", 2}}; }"),
            "{\n  return ExperimentResults{{\"a\", 1}, {\"b\", 2}};\n}\n");
  ExperimentSource source{"(const torch::Tensor& tokens, int layer, std::string, std::map<int, int> m)", "{}", {}};
  EXPECT_EQ(source.parameter_names(), (std::vector<std::string>{"tokens", "layer", "arg2", "m"}));
}

// ---- tools ------------------------------------------------------------------------------------------------------

struct CountingTool : BaseInterpretabilityTool {
  using BaseInterpretabilityTool::BaseInterpretabilityTool;
  std::string description() const override { return "counts its uses"; }
  int uses = 0;
};

TEST(BenchTools, BuiltInsAreRegisteredUsersAddTheirOwnAndUnknownNamesListTheRegisteredOnes) {
  auto dir = test::temp_dir("bench-tools");
  auto model = load_demo_model();
  struct MyBench : InterpretabilityBench {
    using InterpretabilityBench::InterpretabilityBench;
  } bench(model, dir);
  for (const char* name : {"activations", "profiler", "statistics", "head_detector", "logit_lens", "logit_attribution",
                           "activation_patching"})
    EXPECT_TRUE(bench.tools.contains(name)) << name;
  bench.tools.add<CountingTool>("counter");

  auto count = bench.use_tools("counter", [](CountingTool& tool, int by) { return tool.uses += by; });
  EXPECT_EQ(count(2), 2);
  EXPECT_EQ(count(3), 5);  // the same tool object each time
  EXPECT_EQ(&bench.tools.get<CountingTool>("counter").model(), &model);

  auto message = test::error_of([&] { bench.use_tools("writ_read", [](BaseInterpretabilityTool&) {}); });
  EXPECT_NE(message.find("no tool named 'writ_read'"), std::string::npos) << message;
  for (const char* name : {"activations", "counter", "profiler", "statistics"})
    EXPECT_NE(message.find(name), std::string::npos) << message;
  message = test::error_of([&] { bench.use_tools("counter", [](ProfilerTool&) {}); });
  EXPECT_NE(message.find("tool 'counter' is a"), std::string::npos) << message;

  // A logged experiment using a tool records the caller's arguments only, and the tool in its source.
  // Not formatted: clang-format reads the parameter list as a product and would respace the captured source.
  // clang-format off
  auto tracked = ARRAKIS_TOOL_EXPERIMENT(bench, "count", "counter", (CountingTool& counter, int by),
                                         { return counter.uses += by; });
  // clang-format on
  EXPECT_EQ(tracked(10), 15);
  auto run = bench.last_run();
  EXPECT_EQ(run.arguments, nlohmann::json({{"by", 10}}));
  EXPECT_EQ(run.results["result"], 15);
  EXPECT_EQ(bench.get_version("count", run.version).source,
            "use_tools(\"counter\") (CountingTool& counter, int by) { return counter.uses += by; }");

  // A built-in analysis through the registry gives what the analysis gives called directly.
  auto tokens = torch::cat({torch::zeros({2, 1}, torch::kInt64), torch::randint(1, 100, {2, 8}).repeat({1, 2})}, 1);
  auto via_tool = bench.use_tools(
      "head_detector", [&](HeadDetectorTool& detector) { return detector.scores(tokens, 8, 1).induction; })();
  EXPECT_TRUE(torch::equal(via_tool, head_scores(model, tokens, {.period = 8, .offset = 1}).induction));

  auto stats = bench.use_tools("statistics", [](StatisticsTool& statistics, std::vector<double> x) {
    return statistics.test(x, std::vector<double>{0, 0, 0, 0}, {.paired = true}).permutation.p_value;
  });
  EXPECT_DOUBLE_EQ(stats(std::vector<double>{1, 2, 3, 4}), 2.0 / 16);
}

// ---- files that are not an experiment database -------------------------------------------------------------------

void expect_refused(const std::filesystem::path& dir, const std::string& expected_message) {
  auto path = dir / "experiments.sqlite";
  auto before = read_file(path);
  auto model = load_demo_model();
  auto message = test::error_of([&] { InterpretabilityBench bench(model, dir); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(expected_message), std::string::npos) << message;
  EXPECT_EQ(read_file(path), before) << "the file was modified";
}

void make_sqlite(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(BenchStore, ASchemaOneStoreIsReadAsItIsAndGainsToolCallsWhenOpenedForWriting) {
  const auto dir = test::temp_dir("tools-schema-1");
  {
    ExperimentStore store(dir);
    store.finish_run(store.begin_run({.experiment = "old", .source = "() {}"}), nlohmann::json::object());
  }
  // What Arrakis wrote before tool calls were recorded: no runs.tool_calls, user_version 1.
  make_sqlite(dir / "experiments.sqlite", "ALTER TABLE runs DROP COLUMN tool_calls; PRAGMA user_version = 1;");
  {
    ExperimentStore reader(dir, StoreAccess::ReadOnly);
    auto runs = reader.runs("old");
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].tool_calls, nlohmann::json::array());
  }
  ExperimentStore writer(dir);
  auto old_run = writer.runs("old").at(0);
  EXPECT_EQ(old_run.status, "ok");
  const int64_t id = writer.begin_run({.experiment = "new", .source = "() {}"});
  writer.record_tool_call(id, "composer", "head_composition", {{"head1", "L0H1"}});
  writer.finish_run(id, nlohmann::json::object());
  EXPECT_EQ(writer.run(id).tool_calls.at(0)["method"], "head_composition");
  EXPECT_EQ(writer.run(old_run.id).tool_calls, nlohmann::json::array());
}

TEST(BenchStore, ForeignOrCorruptFilesAreClearErrorsAndStayUntouched) {
  auto text = test::temp_dir("bench-foreign-text");
  std::ofstream(text / "experiments.sqlite") << "these are my notes, not a database\n";
  expect_refused(text, "it is not an SQLite file");

  auto foreign = test::temp_dir("bench-foreign-sqlite");
  make_sqlite(foreign / "experiments.sqlite",
              "CREATE TABLE photos (id INTEGER, path TEXT); "
              "INSERT INTO photos VALUES (1, 'a.jpg');");
  expect_refused(foreign, "another program's SQLite database");

  auto marked = test::temp_dir("bench-foreign-marked");
  make_sqlite(marked / "experiments.sqlite", "PRAGMA application_id = 1234;");
  expect_refused(marked, "application_id 0x4d2");

  auto newer = test::temp_dir("bench-newer");
  { ExperimentStore store(newer); }
  make_sqlite(newer / "experiments.sqlite", "PRAGMA user_version = 99;");
  expect_refused(newer, "newer Arrakis");

  // Our own database with page 1 (the schema) overwritten: SQLite's header survives, the rest is garbage.
  auto corrupt = test::temp_dir("bench-corrupt");
  {
    ExperimentStore store(corrupt);
    store.begin_run({"x", "{}", nlohmann::json::object(), nullptr, 0});
  }
  {
    std::fstream file(corrupt / "experiments.sqlite", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    std::string garbage(900, '\xA5');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  expect_refused(corrupt, "damaged");

  // A folder where the database should be.
  auto folder = test::temp_dir("bench-folder");
  std::filesystem::create_directories(folder / "experiments.sqlite");
  auto model = load_demo_model();
  EXPECT_NE(test::error_of([&] { InterpretabilityBench bench(model, folder); }).find("is not a file"),
            std::string::npos);
}

// ---- other processes: the test binary re-run as a worker ----------------------------------------------------------

// ARRAKIS_BENCH_WORKER="SAVE_DIR|RUNS|TAG" makes this binary a worker that logs RUNS runs (0: until killed) and
// prints "committed ID" after each. The worker test exists only in such a process.
class BenchWorker : public testing::Test {
  void TestBody() override {
    std::string spec = std::getenv("ARRAKIS_BENCH_WORKER");
    auto first = spec.find('|'), second = spec.find('|', first + 1);
    std::filesystem::path dir = spec.substr(0, first);
    int runs = std::stoi(spec.substr(first + 1, second - first - 1));
    std::string tag = spec.substr(second + 1);
    auto model = load_demo_model();
    InterpretabilityBench bench(model, dir);
    auto log = ARRAKIS_EXPERIMENT(bench, "concurrent", (std::string who, int i), {
      // A tensor result too, so that a kill can land while files are written.
      return ExperimentResults{{"who", who}, {"i", i}, {"values", torch::full({256}, static_cast<float>(i))}};
    });
    for (int i = 0; runs == 0 || i < runs; ++i) {
      log(tag, i);
      std::printf("committed %lld\n", static_cast<long long>(bench.last_run().id));
      std::fflush(stdout);
    }
  }
};

[[maybe_unused]] const bool worker_registered = [] {
  if (!std::getenv("ARRAKIS_BENCH_WORKER")) return false;
  testing::RegisterTest("BenchWorker", "LogRuns", nullptr, nullptr, __FILE__, __LINE__,
                        []() -> testing::Test* { return new BenchWorker; });
  return true;
}();

struct Worker {
  pid_t pid = -1;
  FILE* output = nullptr;
  std::string other_output;  // everything but the commit lines: a failing worker's message
};

Worker start_worker(const std::filesystem::path& dir, int runs, const std::string& tag) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<std::string> env_strings;
  // Not the shard settings ctest gives this binary: under them the worker could be handed none of its one test.
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with("GTEST_SHARD_INDEX=") &&
        !std::string_view(*e).starts_with("GTEST_TOTAL_SHARDS="))
      env_strings.emplace_back(*e);
  env_strings.push_back(fmt::format("ARRAKIS_BENCH_WORKER={}|{}|{}", dir.string(), runs, tag));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=BenchWorker.LogRuns";
  char* argv[] = {self.data(), filter.data(), nullptr};
  Worker worker;
  EXPECT_EQ(posix_spawn(&worker.pid, self.c_str(), &actions, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  worker.output = ::fdopen(fds[0], "r");
  return worker;
}

// Reads the worker's output up to `stop_after` commits (all of it when 0); returns the committed run ids.
std::vector<int64_t> read_commits(Worker& worker, std::size_t stop_after = 0) {
  std::vector<int64_t> ids;
  char line[512];
  while ((stop_after == 0 || ids.size() < stop_after) && std::fgets(line, sizeof line, worker.output)) {
    long long id = 0;
    if (std::sscanf(line, "committed %lld", &id) == 1)
      ids.push_back(id);
    else
      worker.other_output += line;
  }
  return ids;
}

int wait_for(Worker& worker) {
  int status = 0;
  ::waitpid(worker.pid, &status, 0);
  std::fclose(worker.output);
  return status;
}

TEST(BenchStore, TwoProcessesLoggingAtOnceLoseNothing) {
  auto dir = test::temp_dir("bench-concurrent");
  auto a = start_worker(dir, 200, "a"), b = start_worker(dir, 200, "b");
  auto ids_a = read_commits(a), ids_b = read_commits(b);
  int status_a = wait_for(a), status_b = wait_for(b);
  ASSERT_TRUE(WIFEXITED(status_a) && WEXITSTATUS(status_a) == 0) << status_a << "\n" << a.other_output;
  ASSERT_TRUE(WIFEXITED(status_b) && WEXITSTATUS(status_b) == 0) << status_b << "\n" << b.other_output;
  EXPECT_EQ(ids_a.size(), 200u);
  EXPECT_EQ(ids_b.size(), 200u);

  ExperimentStore store(dir);
  EXPECT_EQ(store.integrity_check(), "ok");
  auto runs = store.runs("concurrent");
  ASSERT_EQ(runs.size(), 400u);
  std::set<std::pair<std::string, int>> seen;
  for (const auto& run : runs) {
    EXPECT_EQ(run.status, "ok");
    seen.insert({run.arguments["who"].get<std::string>(), run.arguments["i"].get<int>()});
    EXPECT_EQ(run.results["i"], run.arguments["i"]);
  }
  EXPECT_EQ(seen.size(), 400u);  // every (process, i) exactly once
  EXPECT_EQ(store.list_versions("concurrent").size(), 1u);
  EXPECT_EQ(store.list_versions("concurrent")[0].runs, 400);
}

TEST(BenchStore, AProcessKilledMidRunLeavesEveryCommittedRunAndAValidDatabase) {
  auto dir = test::temp_dir("bench-killed");
  auto worker = start_worker(dir, 0, "doomed");
  auto before_kill = read_commits(worker, 40);
  ASSERT_EQ(before_kill.size(), 40u);
  ::kill(worker.pid, SIGKILL);
  auto after = read_commits(worker);  // lines already written before the kill
  int status = wait_for(worker);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  before_kill.insert(before_kill.end(), after.begin(), after.end());

  ExperimentStore store(dir);  // opens: the database is valid
  EXPECT_EQ(store.integrity_check(), "ok");
  auto runs = store.runs("concurrent");
  std::set<int64_t> stored;
  for (const auto& run : runs) stored.insert(run.id);
  for (int64_t id : before_kill) {
    ASSERT_TRUE(stored.count(id)) << "committed run " << id << " is missing";
    auto run = store.run(id);
    EXPECT_EQ(run.status, "ok");
    EXPECT_TRUE(std::filesystem::exists(store.tensor_path(run.results["values"]["$tensor"].get<std::string>())));
  }
  // At most the run in flight is unfinished.
  int unfinished = 0;
  for (const auto& run : runs) unfinished += run.status == "running";
  EXPECT_LE(unfinished, 1);
  // The store takes new runs after the crash.
  auto model = load_demo_model();
  InterpretabilityBench bench(model, dir);
  ARRAKIS_EXPERIMENT(bench, "after", (), { return 1; })();
  EXPECT_EQ(bench.last_run().status, "ok");
}

}  // namespace
}  // namespace arrakis
