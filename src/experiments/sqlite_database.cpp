#include "experiments/sqlite_database.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::sqlite {

Database::Database(const std::filesystem::path& path, int flags) : path_(path) {
  int code = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (code != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw Error(fmt::format("cannot open the experiment database {}: {}", path.string(), message));
  }
  sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() { sqlite3_close_v2(db_); }

void Database::check(int code, const std::string& what) const {
  if (code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE) return;
  throw Error(fmt::format("{}: {} ({})", what, sqlite3_errmsg(db_), path_.string()));
}

void Database::exec(const std::string& sql) {
  char* message = nullptr;
  int code = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (code != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errstr(code);
    sqlite3_free(message);
    throw Error(fmt::format("experiment database {}: {} (while running: {})", path_.string(), text, sql));
  }
}

std::optional<std::string> Database::query_text(const std::string& sql) {
  Statement statement(*this, sql);
  if (!statement.step()) return std::nullopt;
  return statement.column_text(0);
}

int64_t Database::query_int(const std::string& sql) {
  Statement statement(*this, sql);
  return statement.step() ? statement.column_int(0) : 0;
}

Statement::Statement(Database& db, const std::string& sql) : db_(db), sql_(sql) {
  db_.check(sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt_, nullptr),
            fmt::format("experiment database: cannot prepare `{}`", sql));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), "experiment database: bind");
  return *this;
}
Statement& Statement::bind(int index, double value) {
  db_.check(sqlite3_bind_double(stmt_, index, value), "experiment database: bind");
  return *this;
}
Statement& Statement::bind(int index, const std::string& value) {
  db_.check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT),
            "experiment database: bind");
  return *this;
}
Statement& Statement::bind_null(int index) {
  db_.check(sqlite3_bind_null(stmt_, index), "experiment database: bind");
  return *this;
}

bool Statement::step() {
  int code = sqlite3_step(stmt_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  db_.check(code, fmt::format("experiment database: `{}` failed", sql_));
  return false;
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
double Statement::column_double(int index) const { return sqlite3_column_double(stmt_, index); }
bool Statement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }
std::string Statement::column_text(int index) const {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  // Any bytes may sit in a TEXT column of a shared or damaged database: made valid UTF-8 (U+FFFD for bad bytes) so
  // that JSON built from it serialises.
  return text ? tok::to_valid_utf8(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))))
              : std::string();
}

WriteTransaction::WriteTransaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

WriteTransaction::~WriteTransaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTransaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace arrakis::sqlite
