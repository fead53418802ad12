// Status and Result<T>: expected failures travel as values, never as exceptions.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ll {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kCorrupt,      // malformed input data (files, frames)
  kUnsupported,  // valid but not handled by us
  kOutOfMemory,  // does not fit a budget
  kIoError,
  kUnavailable,  // peer or service unreachable
  kPermissionDenied,
  kCancelled,
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status not_found(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
inline Status corrupt(std::string m) {
  return {StatusCode::kCorrupt, std::move(m)};
}
inline Status unsupported(std::string m) {
  return {StatusCode::kUnsupported, std::move(m)};
}
inline Status out_of_memory(std::string m) {
  return {StatusCode::kOutOfMemory, std::move(m)};
}
inline Status io_error(std::string m) {
  return {StatusCode::kIoError, std::move(m)};
}
inline Status unavailable(std::string m) {
  return {StatusCode::kUnavailable, std::move(m)};
}
inline Status internal_error(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    if (status_.is_ok()) status_ = internal_error("Result constructed from OK status");
  }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }

  T& value() & { return check(), *value_; }
  const T& value() const& { return check(), *value_; }
  T&& value() && { return check(), std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check() const {
    if (!value_) {
      std::fprintf(stderr, "fatal: Result accessed without value: %s\n",
                   status_.to_string().c_str());
      std::abort();
    }
  }
  std::optional<T> value_;
  Status status_;
};

}  // namespace ll

#define LL_CONCAT_INNER(a, b) a##b
#define LL_CONCAT(a, b) LL_CONCAT_INNER(a, b)

#define LL_RETURN_IF_ERROR(expr)        \
  do {                                  \
    ::ll::Status _ll_st = (expr);       \
    if (!_ll_st.is_ok()) return _ll_st; \
  } while (0)

#define LL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.is_ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define LL_ASSIGN_OR_RETURN(lhs, expr) \
  LL_ASSIGN_OR_RETURN_IMPL(LL_CONCAT(_ll_res_, __LINE__), lhs, expr)
