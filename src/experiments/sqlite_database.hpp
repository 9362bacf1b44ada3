#pragma once
// A thin RAII layer over SQLite's C API for the experiment store: a connection, prepared statements, transactions.
// Every failure becomes an arrakis::Error naming the database file and SQLite's message.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace arrakis::sqlite {

class Database {
 public:
  Database(const std::filesystem::path& path, int flags);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }
  /// Runs one or more statements that return no rows.
  void exec(const std::string& sql);
  /// The first column of the first row of a query, as text (nullopt when there is no row).
  std::optional<std::string> query_text(const std::string& sql);
  int64_t query_int(const std::string& sql);
  /// Throws arrakis::Error "{what}: {SQLite's message} ({path})" when `code` is an error.
  void check(int code, const std::string& what) const;

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(Database& db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, const std::string& value);
  Statement& bind_null(int index);
  /// Advances; true while there is a row to read.
  bool step();
  /// Runs a statement that returns no rows.
  void run();
  void reset();

  int64_t column_int(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;  // "" for NULL
  bool column_is_null(int index) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

/// BEGIN IMMEDIATE (taking the write lock now, waiting for other writers within the busy timeout) ... COMMIT;
/// rolls back when it leaves scope uncommitted (an exception).
class WriteTransaction {
 public:
  explicit WriteTransaction(Database& db);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace arrakis::sqlite
