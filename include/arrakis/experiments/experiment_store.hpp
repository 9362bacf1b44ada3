#pragma once
// The experiment store: every run of every experiment, in SQLite under a save_dir.
//
//   save_dir/experiments.sqlite   experiments, versions (one per distinct source), runs
//   save_dir/tensors/HASH.safetensors   tensor results and arguments, named by content hash
//
// The database runs in WAL mode; every write is one transaction, and writers wait for each other (busy timeout), so
// processes logging at once lose nothing and a process killed mid-run leaves every committed run intact. A file at
// the database path that is not an Arrakis experiment database is an error and is never written to.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace arrakis {

struct VersionInfo {
  std::string experiment;
  std::string hash;        // SHA-256 of the source: the version's identity
  std::string source;      // exactly the code that ran (ExperimentSource::text())
  std::string created_at;  // ISO 8601 UTC: when its first run started
  int64_t runs = 0;
  std::string last_run_at;
};

struct RunRecord {
  int64_t id = 0;
  std::string experiment;
  std::string version;       // the version's hash
  std::string status;        // "running" (started, never finished: the process died), "ok", "failed"
  nlohmann::json arguments;  // {name: value}
  nlohmann::json results;    // {name: value}; tensors as {"$tensor": hash, "dtype", "shape"}
  nlohmann::json model;      // the model's identity (config, weight fingerprint); null without a model
  std::string library_version;
  uint64_t seed = 0;
  std::string started_at, ended_at;  // ISO 8601 UTC, millisecond resolution
  double duration_s = 0;
  std::string error;  // the exception's message for failed runs
  int64_t pid = 0;
  nlohmann::json tool_calls = nlohmann::json::array();  // [{tool, method, arguments, at}] in call order
};

struct ExperimentSummary {
  std::string name;
  std::vector<VersionInfo> versions;  // oldest first
};

/// What a run records when it starts.
struct NewRun {
  std::string experiment;
  std::string source;
  nlohmann::json arguments = nlohmann::json::object();
  nlohmann::json model;
  uint64_t seed = 0;
};

/// ReadOnly opens an existing store for reading and never writes (nor creates a folder or a database); ReadWrite
/// creates what is missing.
enum class StoreAccess { ReadWrite, ReadOnly };

class ExperimentStore {
 public:
  /// Opens save_dir/experiments.sqlite, creating the folder and the database when absent (ReadWrite). arrakis::Error
  /// when the file there is not an SQLite database, is another application's database, is corrupt, or was written by
  /// a newer Arrakis, and, read-only, when there is none; the file is left untouched.
  explicit ExperimentStore(const std::filesystem::path& save_dir, StoreAccess access = StoreAccess::ReadWrite);
  ~ExperimentStore();
  ExperimentStore(ExperimentStore&&) noexcept;
  ExperimentStore& operator=(ExperimentStore&&) noexcept;

  const std::filesystem::path& save_dir() const { return save_dir_; }
  std::filesystem::path database_path() const { return save_dir_ / "experiments.sqlite"; }
  static std::string version_hash(const std::string& source);

  // ---- writing (each call is one committed transaction) ---------------------------------------------------------
  /// Records a run as "running" (creating its experiment and version as needed); returns its id.
  int64_t begin_run(const NewRun& run);
  /// Marks a run finished: status "ok" with its results, or "failed" with the error.
  void finish_run(int64_t id, const nlohmann::json& results);
  void fail_run(int64_t id, const std::string& error);
  /// Appends a tool call to a run's tool_calls (committed at once: a run that dies keeps the calls it made).
  void record_tool_call(int64_t id, const std::string& tool, std::string_view method, const nlohmann::json& arguments);
  /// Writes a tensor as tensors/HASH.safetensors (once: equal tensors share a file); returns its reference JSON.
  nlohmann::json store_tensor(const torch::Tensor& tensor);

  // ---- reading --------------------------------------------------------------------------------------------------
  std::vector<std::string> experiment_names() const;
  std::vector<ExperimentSummary> summary() const;
  /// Versions of an experiment, oldest first; arrakis::Error for an unknown experiment (listing the known ones).
  std::vector<VersionInfo> list_versions(const std::string& experiment) const;
  /// A version by its hash or a unique prefix of it (at least 4 hex digits).
  VersionInfo get_version(const std::string& experiment, const std::string& hash) const;
  /// Runs of an experiment (of one version when `version` is given), oldest first.
  std::vector<RunRecord> runs(const std::string& experiment, const std::string& version = {}) const;
  RunRecord run(int64_t id) const;
  int64_t run_count() const;
  /// A unified diff of two versions' sources (laid out by format_source); empty when they are equal.
  std::string diff(const std::string& experiment, const std::string& from_version, const std::string& to_version) const;
  /// A tensor result by its reference JSON (or hash).
  torch::Tensor load_tensor(const nlohmann::json& reference) const;
  std::filesystem::path tensor_path(const std::string& hash) const;
  /// Everything (or one experiment) as JSON: experiments, versions with their source, runs.
  nlohmann::json export_json(const std::string& experiment = {}) const;
  /// SQLite's `PRAGMA integrity_check`: "ok" for a sound database, SQLite's findings otherwise.
  std::string integrity_check() const;

 private:
  struct Database;
  int64_t experiment_id(const std::string& experiment) const;
  std::filesystem::path save_dir_;
  std::unique_ptr<Database> db_;
};

}  // namespace arrakis

namespace arrakis {
void to_json(nlohmann::json& out, const VersionInfo& version);
void to_json(nlohmann::json& out, const RunRecord& run);
}  // namespace arrakis
