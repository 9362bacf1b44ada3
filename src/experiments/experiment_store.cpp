#include "arrakis/experiments/experiment_store.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>

#include "arrakis/error.hpp"
#include "arrakis/experiments/content_hash.hpp"
#include "arrakis/experiments/experiment_source.hpp"
#include "arrakis/experiments/source_diff.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/runtime.hpp"
#include "experiments/sqlite_database.hpp"
#include "util/json_text.hpp"

namespace arrakis {
namespace {

// 'ARKS': marks the file as an Arrakis experiment database (SQLite's application_id header field), so another
// program's database at the same path is recognised and left alone.
constexpr int64_t kApplicationId = 0x41524B53;
// 1: experiments, versions, runs. 2: runs.tool_calls (a version-1 database gains it when opened for writing).
constexpr int64_t kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL);
CREATE TABLE versions (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  hash TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (experiment_id, hash));
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  version_id INTEGER NOT NULL REFERENCES versions(id),
  status TEXT NOT NULL,
  arguments TEXT NOT NULL,
  results TEXT,
  model TEXT,
  library_version TEXT NOT NULL,
  seed INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  duration_s REAL,
  error TEXT,
  pid INTEGER NOT NULL,
  tool_calls TEXT);
CREATE INDEX runs_by_version ON runs(version_id);
)sql";

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buffer, static_cast<int>(ms % 1000));
}

std::string now_iso() { return iso_time(std::chrono::system_clock::now()); }

// A column Arrakis wrote as JSON; text that is not JSON (written by another tool) is kept as the string it is, so
// that exports stay valid JSON instead of holding a "discarded" value.
nlohmann::json parse_json_column(const std::string& text) {
  if (text.empty()) return nullptr;
  try {
    return parse_json_text(text, "experiment store column");
  } catch (const Error&) {
    return nlohmann::json(text);  // column_text made it valid UTF-8
  }
}

// Refuses, before SQLite touches it, a file that does not even start like an SQLite database.
void check_file_header(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(
        fmt::format("{} is not a file: it cannot be the experiment database (choose another save_dir)", path.string()));
  if (std::filesystem::file_size(path, ec) == 0) return;  // an empty file is an empty database
  std::ifstream in(path, std::ios::binary);
  char header[16] = {};
  in.read(header, sizeof header);
  if (in.gcount() < 16 || std::memcmp(header, "SQLite format 3\0", 16) != 0)
    throw Error(
        fmt::format("{} is not an Arrakis experiment database: it is not an SQLite file. It was left "
                    "untouched; move it away or choose another save_dir",
                    path.string()));
}

}  // namespace

struct ExperimentStore::Database {
  Database(const std::filesystem::path& path, StoreAccess access)
      : db(path, (access == StoreAccess::ReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                     SQLITE_OPEN_FULLMUTEX) {}
  sqlite::Database db;
  std::mutex write_mutex;  // one write transaction at a time from this process's threads
  std::map<int64_t, std::chrono::steady_clock::time_point> started;  // runs begun here: exact durations
  bool has_tool_calls = false;  // a version-1 database opened read-only has no runs.tool_calls
};

namespace {
bool has_tool_calls_column(sqlite::Database& db) {
  return db.query_int("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'tool_calls'") == 1;
}
}  // namespace

ExperimentStore::ExperimentStore(const std::filesystem::path& save_dir, StoreAccess access) : save_dir_(save_dir) {
  std::error_code ec;
  const auto path = database_path();
  if (access == StoreAccess::ReadOnly) {
    // Reading creates nothing: no folder, no database, not even over an empty file.
    if (!std::filesystem::is_regular_file(path, ec))
      throw Error(
          fmt::format("no experiment database in {} (expected {}); run `arrakis demo --save-dir {}` or log an "
                      "experiment with an InterpretabilityBench first",
                      save_dir_.string(), path.string(), save_dir_.string()));
    if (std::filesystem::file_size(path, ec) == 0)
      throw Error(fmt::format("{} is empty: it holds no experiments (it was left untouched)", path.string()));
  } else {
    std::filesystem::create_directories(save_dir_, ec);
    if (!std::filesystem::is_directory(save_dir_))
      throw Error(fmt::format("cannot create the experiment folder {}{}", save_dir_.string(),
                              ec ? ": " + ec.message() : std::string(" (a file is in the way)")));
  }
  check_file_header(path);
  db_ = std::make_unique<Database>(path, access);
  auto& db = db_->db;
  // Writers wait for each other instead of failing: two processes logging at once both succeed.
  db.check(sqlite3_busy_timeout(db.handle(), 60'000), "experiment database: busy timeout");

  const auto refuse = [&](const std::string& why) {
    throw Error(
        fmt::format("{} is not an Arrakis experiment database: {}. It was left untouched; move it away or "
                    "choose another save_dir",
                    path.string(), why));
  };
  int64_t application_id = 0;
  try {
    application_id = db.query_int("PRAGMA application_id");
    if (application_id == 0 && access == StoreAccess::ReadOnly)
      refuse("it has no Arrakis mark (an empty or foreign SQLite database)");
    if (application_id == 0) {
      // A new (empty) database: create the schema, unless another process got there first. Both marks are read
      // again inside the write transaction: two separate reads outside it could see another process's schema
      // commit land between them (no mark, then tables) and take our own database for a foreign one.
      sqlite::WriteTransaction transaction(db);
      application_id = db.query_int("PRAGMA application_id");
      if (application_id == 0) {
        if (db.query_int("SELECT count(*) FROM sqlite_master") > 0)
          refuse("it is another program's SQLite database (it has tables and no Arrakis mark)");
        db.exec(kSchema);
        db.exec(fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {};", kApplicationId, kSchemaVersion));
        application_id = kApplicationId;
      }
      transaction.commit();
    }
  } catch (const Error& e) {
    if (std::string(e.what()).find("is not an Arrakis experiment database") != std::string::npos) throw;
    refuse(fmt::format("SQLite cannot read it ({})", e.what()));
  }
  if (application_id != kApplicationId)
    refuse(fmt::format("it is another program's SQLite database (application_id {:#x})", application_id));
  try {
    auto schema = db.query_int("PRAGMA user_version");
    if (schema > kSchemaVersion)
      throw Error(fmt::format("{} was written by a newer Arrakis (schema {}, this one reads up to {})", path.string(),
                              schema, kSchemaVersion));
    // Reading the table list reads page 1: a damaged database fails here, before anything is written.
    auto tables = db.query_int(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('experiments', 'versions', 'runs')");
    if (tables != 3) refuse("its experiments/versions/runs tables are missing");
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find("is not an Arrakis") != std::string::npos || what.find("newer Arrakis") != std::string::npos) throw;
    refuse(fmt::format("it is damaged ({})", what));
  }
  db_->has_tool_calls = has_tool_calls_column(db);
  if (access == StoreAccess::ReadOnly) return;  // the journal mode is the writers' to set
  // WAL: readers never block the writer and a killed writer leaves every committed transaction intact. NORMAL
  // synchronisation survives a killed process (the OS has the log); only a power cut can lose the last commits.
  for (int attempt = 0;; ++attempt) {
    int code = sqlite3_exec(db.handle(), "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    if (code == SQLITE_OK) break;
    if ((code & 0xff) != SQLITE_BUSY || attempt > 600) db.check(code, "experiment database: enabling WAL");
    ::usleep(100'000);
  }
  db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
  if (!db_->has_tool_calls) {
    // Version 1 -> 2, once, whichever process gets there first (the check is repeated inside the transaction).
    std::lock_guard lock(db_->write_mutex);
    sqlite::WriteTransaction transaction(db);
    if (!has_tool_calls_column(db)) {
      db.exec("ALTER TABLE runs ADD COLUMN tool_calls TEXT");
      db.exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
    }
    transaction.commit();
    db_->has_tool_calls = true;
  }
}

ExperimentStore::~ExperimentStore() = default;
ExperimentStore::ExperimentStore(ExperimentStore&&) noexcept = default;
ExperimentStore& ExperimentStore::operator=(ExperimentStore&&) noexcept = default;

std::string ExperimentStore::version_hash(const std::string& source) { return sha256_hex(source); }

int64_t ExperimentStore::begin_run(const NewRun& run) {
  if (run.experiment.empty()) throw Error("log_experiment: the experiment name is empty");
  auto& db = db_->db;
  const auto started_steady = std::chrono::steady_clock::now();
  const auto started = now_iso();
  const auto hash = version_hash(run.source);
  std::lock_guard lock(db_->write_mutex);
  sqlite::WriteTransaction transaction(db);
  sqlite::Statement(db, "INSERT INTO experiments(name, created_at) VALUES(?, ?) ON CONFLICT(name) DO NOTHING")
      .bind(1, run.experiment)
      .bind(2, started)
      .run();
  sqlite::Statement find_experiment(db, "SELECT id FROM experiments WHERE name = ?");
  find_experiment.bind(1, run.experiment).step();
  const int64_t experiment = find_experiment.column_int(0);
  sqlite::Statement(db,
                    "INSERT INTO versions(experiment_id, hash, source, created_at) VALUES(?, ?, ?, ?) "
                    "ON CONFLICT(experiment_id, hash) DO NOTHING")
      .bind(1, experiment)
      .bind(2, hash)
      .bind(3, run.source)
      .bind(4, started)
      .run();
  sqlite::Statement find_version(db, "SELECT id FROM versions WHERE experiment_id = ? AND hash = ?");
  find_version.bind(1, experiment).bind(2, hash).step();
  const int64_t version = find_version.column_int(0);
  sqlite::Statement insert(db,
                           "INSERT INTO runs(version_id, status, arguments, model, library_version, seed, "
                           "started_at, pid) VALUES(?, 'running', ?, ?, ?, ?, ?, ?)");
  insert.bind(1, version).bind(2, run.arguments.dump()).bind(4, std::string(arrakis::version()));
  if (run.model.is_null())
    insert.bind_null(3);
  else
    insert.bind(3, run.model.dump());
  insert.bind(5, static_cast<int64_t>(run.seed)).bind(6, started).bind(7, static_cast<int64_t>(::getpid())).run();
  const int64_t id = sqlite3_last_insert_rowid(db.handle());
  transaction.commit();
  db_->started[id] = started_steady;
  return id;
}

namespace {

void finish(sqlite::Database& db, std::mutex& mutex, std::map<int64_t, std::chrono::steady_clock::time_point>& started,
            int64_t id, const std::string& status, const nlohmann::json* results, const std::string& error) {
  const auto ended = now_iso();
  std::optional<double> duration;
  if (auto it = started.find(id); it != started.end()) {
    duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count();
    started.erase(it);
  }
  std::lock_guard lock(mutex);
  sqlite::WriteTransaction transaction(db);
  sqlite::Statement update(db,
                           "UPDATE runs SET status = ?, results = ?, ended_at = ?, duration_s = ?, error = ? "
                           "WHERE id = ?");
  update.bind(1, status);
  if (results)
    update.bind(2, results->dump());
  else
    update.bind_null(2);
  update.bind(3, ended);
  if (duration)
    update.bind(4, *duration);
  else
    update.bind_null(4);
  if (error.empty())
    update.bind_null(5);
  else
    update.bind(5, error);
  update.bind(6, id).run();
  if (sqlite3_changes(db.handle()) != 1) throw Error(fmt::format("experiment database: there is no run {}", id));
  transaction.commit();
}

}  // namespace

void ExperimentStore::finish_run(int64_t id, const nlohmann::json& results) {
  finish(db_->db, db_->write_mutex, db_->started, id, "ok", &results, {});
}

void ExperimentStore::record_tool_call(int64_t id, const std::string& tool, std::string_view method,
                                       const nlohmann::json& arguments) {
  const nlohmann::json call = {{"tool", tool}, {"method", method}, {"arguments", arguments}, {"at", now_iso()}};
  std::lock_guard lock(db_->write_mutex);
  sqlite::WriteTransaction transaction(db_->db);
  sqlite::Statement update(db_->db,
                           "UPDATE runs SET tool_calls = json_insert(coalesce(tool_calls, '[]'), '$[#]', json(?)) "
                           "WHERE id = ?");
  update.bind(1, call.dump()).bind(2, id).run();
  if (sqlite3_changes(db_->db.handle()) != 1) throw Error(fmt::format("experiment database: there is no run {}", id));
  transaction.commit();
}

void ExperimentStore::fail_run(int64_t id, const std::string& error) {
  finish(db_->db, db_->write_mutex, db_->started, id, "failed", nullptr, error.empty() ? "(no message)" : error);
}

std::filesystem::path ExperimentStore::tensor_path(const std::string& hash) const {
  if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw Error(fmt::format("'{}' is not a tensor hash (64 lower-case hex digits)", hash));
  return save_dir_ / "tensors" / (hash + ".safetensors");
}

nlohmann::json ExperimentStore::store_tensor(const torch::Tensor& tensor) {
  if (!tensor.defined()) throw Error("experiment results: a tensor result is undefined");
  auto cpu = tensor.detach().to(torch::kCPU).contiguous();
  auto hash = tensor_content_hash(cpu);
  auto path = tensor_path(hash);
  // Content-addressed: a file that exists already holds these exact bytes. Writers write a temporary file and
  // rename it, so concurrent writers of the same tensor are harmless.
  if (!std::filesystem::exists(path)) {
    std::filesystem::create_directories(path.parent_path());
    save_safetensors(path, {{"tensor", cpu}}, {{"sha256", hash}});
  }
  return {{"$tensor", hash},
          {"dtype", safetensors_dtype_name(cpu.scalar_type())},
          {"shape", std::vector<int64_t>(cpu.sizes().begin(), cpu.sizes().end())}};
}

torch::Tensor ExperimentStore::load_tensor(const nlohmann::json& reference) const {
  std::string hash = reference.is_string() ? reference.get<std::string>()
                     : reference.is_object() && reference.contains("$tensor")
                         ? reference["$tensor"].get<std::string>()
                         : throw Error(fmt::format("not a tensor reference: {}", reference.dump()));
  auto path = tensor_path(hash);
  if (!std::filesystem::exists(path))
    throw Error(fmt::format("tensor {} is missing from {} (was the folder copied without tensors/?)", hash,
                            save_dir_.string()));
  auto file = SafetensorsFile::open(path);
  return file->tensor("tensor").clone();
}

std::vector<std::string> ExperimentStore::experiment_names() const {
  std::vector<std::string> names;
  sqlite::Statement query(db_->db, "SELECT name FROM experiments ORDER BY name");
  while (query.step()) names.push_back(query.column_text(0));
  return names;
}

int64_t ExperimentStore::experiment_id(const std::string& experiment) const {
  sqlite::Statement query(db_->db, "SELECT id FROM experiments WHERE name = ?");
  query.bind(1, experiment);
  if (query.step()) return query.column_int(0);
  auto names = experiment_names();
  if (names.empty())
    throw Error(fmt::format("no experiment '{}': {} holds no experiments yet", experiment, save_dir_.string()));
  throw Error(
      fmt::format("no experiment '{}' in {}; experiments: {}", experiment, save_dir_.string(), fmt::join(names, ", ")));
}

namespace {

constexpr const char* kVersionColumns =
    "SELECT e.name, v.hash, v.source, v.created_at, count(r.id), max(r.started_at) FROM versions v "
    "JOIN experiments e ON e.id = v.experiment_id LEFT JOIN runs r ON r.version_id = v.id ";

VersionInfo read_version(const sqlite::Statement& row) {
  return {row.column_text(0), row.column_text(1), row.column_text(2),
          row.column_text(3), row.column_int(4),  row.column_text(5)};
}

std::string run_columns(bool has_tool_calls) {
  return std::string(
             "SELECT r.id, e.name, v.hash, r.status, r.arguments, r.results, r.model, r.library_version, r.seed, "
             "r.started_at, r.ended_at, r.duration_s, r.error, r.pid, ") +
         (has_tool_calls ? "r.tool_calls" : "NULL") +
         " FROM runs r JOIN versions v ON v.id = r.version_id JOIN experiments e ON e.id = v.experiment_id ";
}

RunRecord read_run(const sqlite::Statement& row) {
  RunRecord run;
  run.id = row.column_int(0);
  run.experiment = row.column_text(1);
  run.version = row.column_text(2);
  run.status = row.column_text(3);
  run.arguments = parse_json_column(row.column_text(4));
  run.results = parse_json_column(row.column_text(5));
  run.model = parse_json_column(row.column_text(6));
  run.library_version = row.column_text(7);
  run.seed = static_cast<uint64_t>(row.column_int(8));
  run.started_at = row.column_text(9);
  run.ended_at = row.column_text(10);
  run.duration_s = row.column_double(11);
  run.error = row.column_text(12);
  run.pid = row.column_int(13);
  run.tool_calls = parse_json_column(row.column_text(14));
  if (!run.tool_calls.is_array()) run.tool_calls = nlohmann::json::array();
  return run;
}

}  // namespace

std::vector<VersionInfo> ExperimentStore::list_versions(const std::string& experiment) const {
  const int64_t id = experiment_id(experiment);
  sqlite::Statement query(
      db_->db, std::string(kVersionColumns) + "WHERE v.experiment_id = ? GROUP BY v.id ORDER BY v.created_at, v.id");
  query.bind(1, id);
  std::vector<VersionInfo> versions;
  while (query.step()) versions.push_back(read_version(query));
  return versions;
}

VersionInfo ExperimentStore::get_version(const std::string& experiment, const std::string& hash) const {
  if (hash.size() < 4 || hash.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw Error(fmt::format("'{}' is not a version hash (at least 4 lower-case hex digits of one)", hash));
  std::vector<VersionInfo> matches;
  for (auto& version : list_versions(experiment))
    if (version.hash.starts_with(hash)) matches.push_back(std::move(version));
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) {
    std::vector<std::string> known;
    for (const auto& v : list_versions(experiment)) known.push_back(v.hash.substr(0, 12));
    throw Error(
        fmt::format("experiment '{}' has no version {}; its versions: {}", experiment, hash, fmt::join(known, ", ")));
  }
  throw Error(fmt::format("version prefix {} of experiment '{}' is ambiguous ({} versions match): give more digits",
                          hash, experiment, matches.size()));
}

std::vector<RunRecord> ExperimentStore::runs(const std::string& experiment, const std::string& version) const {
  const int64_t id = experiment_id(experiment);
  std::string full_hash = version.empty() ? std::string() : get_version(experiment, version).hash;
  sqlite::Statement query(db_->db,
                          run_columns(db_->has_tool_calls) + "WHERE e.id = ? AND (? = '' OR v.hash = ?) ORDER BY r.id");
  query.bind(1, id).bind(2, full_hash).bind(3, full_hash);
  std::vector<RunRecord> runs;
  while (query.step()) runs.push_back(read_run(query));
  return runs;
}

RunRecord ExperimentStore::run(int64_t id) const {
  sqlite::Statement query(db_->db, run_columns(db_->has_tool_calls) + "WHERE r.id = ?");
  query.bind(1, id);
  if (!query.step()) throw Error(fmt::format("no run {} in {}", id, database_path().string()));
  return read_run(query);
}

int64_t ExperimentStore::run_count() const { return db_->db.query_int("SELECT count(*) FROM runs"); }

std::vector<ExperimentSummary> ExperimentStore::summary() const {
  std::vector<ExperimentSummary> out;
  for (const auto& name : experiment_names()) out.push_back({name, list_versions(name)});
  return out;
}

std::string ExperimentStore::diff(const std::string& experiment, const std::string& from_version,
                                  const std::string& to_version) const {
  auto a = get_version(experiment, from_version), b = get_version(experiment, to_version);
  return unified_diff(format_source(a.source), format_source(b.source),
                      fmt::format("{} {}", experiment, a.hash.substr(0, 12)),
                      fmt::format("{} {}", experiment, b.hash.substr(0, 12)));
}

nlohmann::json ExperimentStore::export_json(const std::string& experiment) const {
  auto experiments = nlohmann::json::array();
  std::vector<std::string> names = experiment.empty() ? experiment_names() : std::vector<std::string>{experiment};
  for (const auto& name : names) {
    auto versions = nlohmann::json::array();
    for (const auto& version : list_versions(name)) {
      nlohmann::json v = version;
      v["runs"] = nlohmann::json::array();
      for (const auto& run : runs(name, version.hash)) v["runs"].push_back(run);
      versions.push_back(std::move(v));
    }
    experiments.push_back({{"name", name}, {"versions", std::move(versions)}});
  }
  return {{"save_dir", save_dir_.string()}, {"experiments", std::move(experiments)}};
}

std::string ExperimentStore::integrity_check() const {
  sqlite::Statement query(db_->db, "PRAGMA integrity_check");
  std::string out;
  while (query.step()) {
    if (!out.empty()) out += '\n';
    out += query.column_text(0);
  }
  return out;
}

void to_json(nlohmann::json& out, const VersionInfo& version) {
  out = {{"experiment", version.experiment}, {"hash", version.hash}, {"source", version.source},
         {"created_at", version.created_at}, {"runs", version.runs}, {"last_run_at", version.last_run_at}};
}

void to_json(nlohmann::json& out, const RunRecord& run) {
  out = {{"id", run.id},
         {"experiment", run.experiment},
         {"version", run.version},
         {"status", run.status},
         {"arguments", run.arguments},
         {"results", run.results},
         {"model", run.model},
         {"library_version", run.library_version},
         {"seed", run.seed},
         {"started_at", run.started_at},
         {"ended_at", run.ended_at},
         {"duration_s", run.duration_s},
         {"error", run.error},
         {"pid", run.pid},
         {"tool_calls", run.tool_calls}};
}

}  // namespace arrakis
