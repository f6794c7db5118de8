#include "coordinator/transaction_control.h"

#include <cctype>

namespace twopc::internal {
namespace {

// Splits off the first few words of `sql`, upper-cased, skipping what
// PostgreSQL's lexer skips: whitespace, -- line comments, /* block comments
// */ (which nest) and, before the first word, empty statements (";").
class Words {
 public:
  explicit Words(std::string_view sql) : sql_(sql) {}

  // The next word, or "" when the next token is not a keyword-like word
  // (a quote, a parenthesis, the end...).
  std::string Next() {
    SkipBlanks(words_read_ == 0);
    std::string word;
    while (pos_ < sql_.size() && IsWordChar(sql_[pos_])) {
      word += static_cast<char>(std::toupper(static_cast<unsigned char>(sql_[pos_])));
      ++pos_;
    }
    ++words_read_;
    return word;
  }

 private:
  static bool IsWordChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
           static_cast<unsigned char>(c) >= 0x80;
  }

  void SkipBlanks(bool also_semicolons) {
    while (pos_ < sql_.size()) {
      char c = sql_[pos_];
      if (std::isspace(static_cast<unsigned char>(c)) || (also_semicolons && c == ';')) {
        ++pos_;
      } else if (sql_.substr(pos_, 2) == "--") {
        while (pos_ < sql_.size() && sql_[pos_] != '\n') ++pos_;
      } else if (sql_.substr(pos_, 2) == "/*") {
        SkipBlockComment();
      } else {
        return;
      }
    }
  }

  void SkipBlockComment() {
    int depth = 0;
    while (pos_ < sql_.size()) {
      if (sql_.substr(pos_, 2) == "/*") {
        ++depth;
        pos_ += 2;
      } else if (sql_.substr(pos_, 2) == "*/") {
        pos_ += 2;
        if (--depth == 0) return;
      } else {
        ++pos_;
      }
    }
  }

  std::string_view sql_;
  size_t pos_ = 0;
  int words_read_ = 0;
};

}  // namespace

std::optional<std::string> TransactionControlStatement(std::string_view sql) {
  Words words(sql);
  const std::string first = words.Next();
  if (first == "END" || first == "ABORT" || first == "BEGIN") return first;
  if (first == "COMMIT") {
    return words.Next() == "PREPARED" ? "COMMIT PREPARED" : "COMMIT";
  }
  if (first == "ROLLBACK") {
    std::string next = words.Next();
    if (next == "PREPARED") return "ROLLBACK PREPARED";
    if (next == "WORK" || next == "TRANSACTION") next = words.Next();
    if (next == "TO") return std::nullopt;  // ROLLBACK TO SAVEPOINT: stays inside
    return "ROLLBACK";
  }
  if (first == "START" && words.Next() == "TRANSACTION") return "START TRANSACTION";
  if (first == "PREPARE" && words.Next() == "TRANSACTION") return "PREPARE TRANSACTION";
  if (first == "SET" && words.Next() == "SESSION" && words.Next() == "CHARACTERISTICS") {
    return "SET SESSION CHARACTERISTICS";
  }
  return std::nullopt;
}

}  // namespace twopc::internal
