// Time as an injectable dependency: code that reads the time takes a Clock&
// so tests can move it with FakeClock instead of sleeping.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem {

// Thread-safe source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;
  // Returns milliseconds since the Unix epoch (UTC).
  virtual int64_t NowMillis() const = 0;
};

// The real wall clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
  // Returns the process-wide instance; it lives until exit.
  static SystemClock& Instance();
};

// A clock that moves only through Advance() and Set(). Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_millis) : now_(start_millis) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t millis) { now_.fetch_add(millis); }
  void Set(int64_t millis) { now_.store(millis); }

 private:
  std::atomic<int64_t> now_;
};

// Formats Unix milliseconds as ISO 8601 UTC with milliseconds:
// "2026-12-04T19:42:05.123Z". Handles times before 1970 too.
std::string FormatTimestamp(int64_t unix_millis);

// Parses ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into Unix
// milliseconds. A space in place of 'T' and a lower-case 't' or 'z' are
// accepted. Digits of the fraction past milliseconds are truncated.
// Errors: kInvalidArgument naming the text and what is wrong with it.
Result<int64_t> ParseTimestamp(std::string_view iso8601);

}  // namespace tandem
