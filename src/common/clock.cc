#include "common/clock.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <optional>

namespace tandem {
namespace {

namespace chrono = std::chrono;

// Reads exactly `width` decimal digits at `pos`; advances `pos` on success.
bool ReadDigits(std::string_view text, size_t& pos, size_t width, int& out) {
  if (pos + width > text.size()) return false;
  for (size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  std::from_chars(text.data() + pos, text.data() + pos + width, out);
  pos += width;
  return true;
}

bool Expect(std::string_view text, size_t& pos, std::string_view accepted) {
  if (pos >= text.size() || accepted.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

std::unexpected<Error> BadTimestamp(std::string_view text, std::string_view problem) {
  return InvalidArgument(fmt::format(
      "invalid timestamp \"{}\": {}; expected ISO 8601 like 2026-12-04T19:42:05.123Z", text,
      problem));
}

// Parses "Z", "+HH:MM" or "-HH:MM" at `pos` into an offset east of UTC in minutes.
std::optional<int> ParseZone(std::string_view text, size_t pos) {
  if (pos + 1 == text.size() && (text[pos] == 'Z' || text[pos] == 'z')) return 0;
  if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return std::nullopt;
  int sign = text[pos] == '-' ? -1 : 1;
  ++pos;
  int hours = 0;
  int minutes = 0;
  if (!ReadDigits(text, pos, 2, hours) || !Expect(text, pos, ":") ||
      !ReadDigits(text, pos, 2, minutes) || pos != text.size() || hours > 23 || minutes > 59) {
    return std::nullopt;
  }
  return sign * (hours * 60 + minutes);
}

}  // namespace

int64_t SystemClock::NowMillis() const {
  return chrono::duration_cast<chrono::milliseconds>(
             chrono::system_clock::now().time_since_epoch())
      .count();
}

SystemClock& SystemClock::Instance() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

std::string FormatTimestamp(int64_t unix_millis) {
  chrono::sys_time<chrono::milliseconds> time{chrono::milliseconds(unix_millis)};
  auto day = chrono::floor<chrono::days>(time);
  chrono::year_month_day date{day};
  chrono::hh_mm_ss<chrono::milliseconds> clock_time{time - day};
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", int(date.year()),
                     unsigned(date.month()), unsigned(date.day()), clock_time.hours().count(),
                     clock_time.minutes().count(), clock_time.seconds().count(),
                     clock_time.subseconds().count());
}

Result<int64_t> ParseTimestamp(std::string_view text) {
  // Step 1: the fixed-width date and time of day.
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, pos, 4, year) || !Expect(text, pos, "-") ||
      !ReadDigits(text, pos, 2, month) || !Expect(text, pos, "-") ||
      !ReadDigits(text, pos, 2, day)) {
    return BadTimestamp(text, "the date is not YYYY-MM-DD");
  }
  if (!Expect(text, pos, "Tt ") || !ReadDigits(text, pos, 2, hour) || !Expect(text, pos, ":") ||
      !ReadDigits(text, pos, 2, minute) || !Expect(text, pos, ":") ||
      !ReadDigits(text, pos, 2, second)) {
    return BadTimestamp(text, "the time of day is not THH:MM:SS");
  }

  // Step 2: an optional fraction of a second, truncated to milliseconds.
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
    }
    if (digits == 0) return BadTimestamp(text, "no digits after the decimal point");
    for (size_t i = digits; i < 3; ++i) millis *= 10;
  }

  // Step 3: the zone, then range checks on every field.
  std::optional<int> offset_minutes = ParseZone(text, pos);
  if (!offset_minutes) return BadTimestamp(text, "the time zone is not Z or +HH:MM");
  chrono::year_month_day date{chrono::year(year), chrono::month(month), chrono::day(day)};
  if (!date.ok()) return BadTimestamp(text, "no such calendar date");
  if (hour > 23 || minute > 59 || second > 60) {
    return BadTimestamp(text, "the time of day is out of range");
  }

  // A leap second (:60) counts as the next second, as POSIX time does.
  int64_t days = chrono::sys_days(date).time_since_epoch().count();
  int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second -
                    int64_t{*offset_minutes} * 60;
  return seconds * 1000 + millis;
}

}  // namespace tandem
