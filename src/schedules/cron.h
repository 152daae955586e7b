// Schedule expressions: when a recurring job is due. All times are UTC and
// Unix milliseconds, so there is no daylight-saving time to get wrong.
//
// Accepted forms (the fields and names are those of Vixie cron):
//   "M H DOM MON DOW"   five fields: minute 0-59, hour 0-23, day of month
//                       1-31, month 1-12 or JAN-DEC, day of week 0-7 or
//                       SUN-SAT (0 and 7 are Sunday). A field is a comma list
//                       of `*`, `N` and `N-M`, each optionally followed by
//                       `/S` for every S-th value of the range. `N/S` runs
//                       from N to the field's maximum. Names are
//                       case-insensitive.
//                       When both day fields are restricted (neither starts
//                       with `*`), a day matches if either field matches;
//                       otherwise both must match.
//   "@hourly"           "0 * * * *"
//   "@daily"            "0 0 * * *" (also "@midnight")
//   "@weekly"           "0 0 * * 0"
//   "@monthly"          "0 0 1 * *"
//   "@yearly"           "0 0 1 1 *" (also "@annually")
//   "@every DURATION"   a fixed period: whole hours, minutes and seconds in
//                       that order ("15m", "2s", "1h30m"), at least
//                       kMinEveryPeriodMs. Slots are the multiples of the
//                       period since the Unix epoch, so they do not depend on
//                       when a schedule was created or a server started.
//
// Thread-safe: a CronSchedule is immutable after Parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::schedules {

// The shortest `@every` period: one second.
inline constexpr int64_t kMinEveryPeriodMs = 1000;
// The longest `@every` period: 366 days.
inline constexpr int64_t kMaxEveryPeriodMs = int64_t{366} * 24 * 3600 * 1000;

class CronSchedule {
 public:
  // Parses `expression`. Errors: kInvalidArgument naming the expression, the
  // field ("hour field") and the token at fault, for example
  // `cron expression "0 25 * * *": hour field: 25 is out of range 0-23`.
  // An expression that can never match ("0 0 30 2 *") is rejected too.
  static Result<CronSchedule> Parse(std::string_view expression);

  // Returns the first due time strictly after `after_ms`.
  int64_t Next(int64_t after_ms) const;

  // Returns the last due time at or before `at_ms`.
  int64_t Previous(int64_t at_ms) const;

  // The expression as given to Parse.
  const std::string& expression() const { return expression_; }

  // The `@every` period in milliseconds; 0 for a calendar expression.
  int64_t period_ms() const { return period_ms_; }

 private:
  CronSchedule() = default;

  bool MatchesDay(int64_t days_since_epoch) const;
  int64_t NextCalendar(int64_t after_ms) const;
  int64_t PreviousCalendar(int64_t at_ms) const;

  std::string expression_;
  int64_t period_ms_ = 0;
  // Bit v is set when value v matches.
  uint64_t minutes_ = 0;
  uint64_t hours_ = 0;
  uint64_t days_of_month_ = 0;
  uint64_t months_ = 0;
  uint64_t days_of_week_ = 0;  // 0-6, Sunday is 0
  bool day_of_month_star_ = false;
  bool day_of_week_star_ = false;
};

// Parses an `@every` duration such as "1h30m" into milliseconds.
// Errors: kInvalidArgument naming the duration and what is wrong with it.
Result<int64_t> ParseEveryDuration(std::string_view duration);

}  // namespace tandem::schedules
