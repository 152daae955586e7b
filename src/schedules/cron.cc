#include "schedules/cron.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>
#include <vector>

namespace tandem::schedules {
namespace {

namespace chrono = std::chrono;

constexpr int64_t kMinuteMs = 60 * 1000;
constexpr int64_t kMinutesPerDay = 24 * 60;
// Enough steps for any expression Parse accepts: each step moves to the next
// (or previous) month, day, hour or minute, and a feasible expression matches
// within 8 years (a 29 February that also needs a given weekday).
constexpr int kMaxSearchSteps = 200000;

struct FieldSpec {
  std::string_view name;  // "hour field"
  int min;
  int max;
  // Names for the values from `min` on ("JAN" is 1), or empty.
  std::vector<std::string_view> names;
};

const FieldSpec kMinuteField{"minute field", 0, 59, {}};
const FieldSpec kHourField{"hour field", 0, 23, {}};
const FieldSpec kDayOfMonthField{"day-of-month field", 1, 31, {}};
const FieldSpec kMonthField{"month field", 1, 12,
                            {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                             "NOV", "DEC"}};
const FieldSpec kDayOfWeekField{"day-of-week field", 0, 7,
                                {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}};

struct Macro {
  std::string_view name;
  std::string_view fields;
};

constexpr std::array<Macro, 7> kMacros = {{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

int64_t FloorDiv(int64_t value, int64_t divisor) {
  int64_t quotient = value / divisor;
  if (value % divisor != 0 && (value < 0) != (divisor < 0)) --quotient;
  return quotient;
}

bool HasBit(uint64_t bits, int64_t value) { return (bits >> value) & 1u; }

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> SplitWhitespace(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::optional<int> ParseNumber(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Parses one value of a field: a number in range or one of its names.
Result<int> ParseValue(const FieldSpec& field, std::string_view token) {
  if (std::optional<int> number = ParseNumber(token)) {
    if (*number < field.min || *number > field.max) {
      return InvalidArgument(fmt::format("{}: \"{}\" is out of range {}-{}", field.name, token,
                                         field.min, field.max));
    }
    return *number;
  }
  for (size_t i = 0; i < field.names.size(); ++i) {
    if (EqualsIgnoreCase(token, field.names[i])) return field.min + static_cast<int>(i);
  }
  if (field.names.empty()) {
    return InvalidArgument(fmt::format("{}: \"{}\" is not a number", field.name, token));
  }
  return InvalidArgument(fmt::format("{}: \"{}\" is not a number or a name ({}-{})", field.name,
                                     token, field.names.front(), field.names.back()));
}

// Parses one comma-separated item: `*`, `N`, `N-M`, each with an optional `/S`.
Result<uint64_t> ParseItem(const FieldSpec& field, std::string_view item) {
  if (item.empty()) {
    return InvalidArgument(fmt::format("{}: empty list item", field.name));
  }
  std::string_view range = item;
  int step = 1;
  size_t slash = item.find('/');
  if (slash != std::string_view::npos) {
    range = item.substr(0, slash);
    std::string_view step_text = item.substr(slash + 1);
    std::optional<int> parsed = ParseNumber(step_text);
    if (!parsed || *parsed < 1 || *parsed > field.max) {
      return InvalidArgument(fmt::format("{}: step \"{}\" in \"{}\" must be a number from 1 to {}",
                                         field.name, step_text, item, field.max));
    }
    step = *parsed;
  }

  int low = field.min;
  int high = field.max;
  if (range == "*") {
    // every value of the field
  } else if (size_t dash = range.find('-'); dash != std::string_view::npos) {
    TANDEM_ASSIGN_OR_RETURN(low, ParseValue(field, range.substr(0, dash)));
    TANDEM_ASSIGN_OR_RETURN(high, ParseValue(field, range.substr(dash + 1)));
    if (low > high) {
      return InvalidArgument(fmt::format("{}: range \"{}\" runs backwards", field.name, range));
    }
  } else {
    TANDEM_ASSIGN_OR_RETURN(low, ParseValue(field, range));
    // "N/S" runs from N to the maximum; a bare "N" is N alone.
    if (slash == std::string_view::npos) high = low;
  }

  uint64_t bits = 0;
  for (int value = low; value <= high; value += step) bits |= uint64_t{1} << value;
  return bits;
}

Result<uint64_t> ParseField(const FieldSpec& field, std::string_view text) {
  uint64_t bits = 0;
  for (std::string_view item : Split(text, ',')) {
    TANDEM_ASSIGN_OR_RETURN(uint64_t item_bits, ParseItem(field, item));
    bits |= item_bits;
  }
  return bits;
}

// The greatest number of days month `month` (1-12) can have.
int MaxDaysInMonth(int month) {
  constexpr std::array<int, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[month - 1];
}

chrono::year_month_day DateOf(int64_t days_since_epoch) {
  return chrono::year_month_day{chrono::sys_days{chrono::days{days_since_epoch}}};
}

int64_t DaysOf(chrono::year_month_day date) {
  return chrono::sys_days{date}.time_since_epoch().count();
}

}  // namespace

Result<int64_t> ParseEveryDuration(std::string_view duration) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument(fmt::format("@every duration \"{}\": {}", duration, why));
  };
  if (duration.empty()) return invalid("missing, expected for example 15m, 2s or 1h30m");

  constexpr std::string_view kUnits = "hms";
  constexpr std::array<int64_t, 3> kUnitMs = {3600 * 1000, 60 * 1000, 1000};
  int64_t total_ms = 0;
  size_t next_unit = 0;  // units must come in the order h, m, s, each once
  size_t i = 0;
  while (i < duration.size()) {
    size_t start = i;
    while (i < duration.size() && std::isdigit(static_cast<unsigned char>(duration[i]))) ++i;
    if (i == start) return invalid(fmt::format("expected a number at \"{}\"", duration.substr(i)));
    if (i == duration.size()) return invalid("a number lacks its unit (h, m or s)");
    std::optional<int> amount = ParseNumber(duration.substr(start, i - start));
    if (!amount) return invalid("a number is too large");
    size_t unit = kUnits.find(duration[i]);
    if (unit == std::string_view::npos) {
      return invalid(fmt::format("unknown unit \"{}\", expected h, m or s", duration[i]));
    }
    if (unit < next_unit) return invalid("units must appear once each, in the order h, m, s");
    next_unit = unit + 1;
    total_ms += *amount * kUnitMs[unit];
    if (total_ms > kMaxEveryPeriodMs) return invalid("longer than 366 days");
    ++i;
  }
  if (total_ms < kMinEveryPeriodMs) return invalid("shorter than the minimum of 1s");
  return total_ms;
}

Result<CronSchedule> CronSchedule::Parse(std::string_view expression) {
  auto context = fmt::format("cron expression \"{}\"", expression);
  std::vector<std::string_view> words = SplitWhitespace(expression);
  if (words.empty()) return InvalidArgument(fmt::format("{}: empty", context));

  CronSchedule schedule;
  schedule.expression_ = std::string(expression);

  // Step 1: the @ forms.
  std::string_view fields_text = expression;
  if (words[0].starts_with('@')) {
    if (EqualsIgnoreCase(words[0], "@every")) {
      if (words.size() != 2) {
        return InvalidArgument(
            fmt::format("{}: @every takes one duration, for example \"@every 15m\"", context));
      }
      Result<int64_t> period = ParseEveryDuration(words[1]);
      if (!period) return std::unexpected(period.error().WithContext(context));
      schedule.period_ms_ = *period;
      return schedule;
    }
    const Macro* macro = nullptr;
    for (const Macro& candidate : kMacros) {
      if (EqualsIgnoreCase(words[0], candidate.name)) macro = &candidate;
    }
    if (macro == nullptr) {
      return InvalidArgument(fmt::format(
          "{}: unknown \"{}\", expected @hourly, @daily, @weekly, @monthly, @yearly or "
          "@every DURATION",
          context, words[0]));
    }
    if (words.size() != 1) {
      return InvalidArgument(fmt::format("{}: {} takes nothing after it", context, words[0]));
    }
    fields_text = macro->fields;
    words = SplitWhitespace(fields_text);
  }

  // Step 2: five fields.
  if (words.size() != 5) {
    return InvalidArgument(fmt::format(
        "{}: expected 5 fields (minute hour day-of-month month day-of-week), got {}", context,
        words.size()));
  }
  auto parse = [&](const FieldSpec& field, std::string_view text) -> Result<uint64_t> {
    Result<uint64_t> bits = ParseField(field, text);
    if (!bits) return std::unexpected(bits.error().WithContext(context));
    return bits;
  };
  TANDEM_ASSIGN_OR_RETURN(schedule.minutes_, parse(kMinuteField, words[0]));
  TANDEM_ASSIGN_OR_RETURN(schedule.hours_, parse(kHourField, words[1]));
  TANDEM_ASSIGN_OR_RETURN(schedule.days_of_month_, parse(kDayOfMonthField, words[2]));
  TANDEM_ASSIGN_OR_RETURN(schedule.months_, parse(kMonthField, words[3]));
  TANDEM_ASSIGN_OR_RETURN(uint64_t days_of_week, parse(kDayOfWeekField, words[4]));
  // 7 is another name for Sunday.
  schedule.days_of_week_ = (days_of_week & 0x7f) | ((days_of_week >> 7) & 1u);
  schedule.day_of_month_star_ = words[2].starts_with('*');
  schedule.day_of_week_star_ = words[4].starts_with('*');

  // Step 3: a restricted day of month alone must exist in a chosen month.
  if (!schedule.day_of_month_star_ && schedule.day_of_week_star_) {
    bool possible = false;
    for (int month = 1; month <= 12; ++month) {
      if (!HasBit(schedule.months_, month)) continue;
      for (int day = 1; day <= MaxDaysInMonth(month); ++day) {
        possible = possible || HasBit(schedule.days_of_month_, day);
      }
    }
    if (!possible) {
      return InvalidArgument(fmt::format(
          "{}: day-of-month field: \"{}\" never occurs in the months \"{}\"", context, words[2],
          words[3]));
    }
  }
  return schedule;
}

bool CronSchedule::MatchesDay(int64_t days_since_epoch) const {
  chrono::year_month_day date = DateOf(days_since_epoch);
  bool day_of_month = HasBit(days_of_month_, static_cast<unsigned>(date.day()));
  unsigned weekday = chrono::weekday{chrono::sys_days{date}}.c_encoding();
  bool day_of_week = HasBit(days_of_week_, weekday);
  if (!day_of_month_star_ && !day_of_week_star_) return day_of_month || day_of_week;
  return day_of_month && day_of_week;
}

int64_t CronSchedule::Next(int64_t after_ms) const {
  if (period_ms_ > 0) return (FloorDiv(after_ms, period_ms_) + 1) * period_ms_;
  return NextCalendar(after_ms);
}

int64_t CronSchedule::Previous(int64_t at_ms) const {
  if (period_ms_ > 0) return FloorDiv(at_ms, period_ms_) * period_ms_;
  return PreviousCalendar(at_ms);
}

int64_t CronSchedule::NextCalendar(int64_t after_ms) const {
  int64_t minute = FloorDiv(after_ms, kMinuteMs) + 1;  // in minutes since the epoch
  for (int step = 0; step < kMaxSearchSteps; ++step) {
    int64_t days = FloorDiv(minute, kMinutesPerDay);
    int64_t minute_of_day = minute - days * kMinutesPerDay;
    chrono::year_month_day date = DateOf(days);
    if (!HasBit(months_, static_cast<unsigned>(date.month()))) {
      chrono::year_month first_of_next = chrono::year_month{date.year(), date.month()} +
                                         chrono::months{1};
      minute = DaysOf(first_of_next / chrono::day{1}) * kMinutesPerDay;
    } else if (!MatchesDay(days)) {
      minute = (days + 1) * kMinutesPerDay;
    } else if (!HasBit(hours_, minute_of_day / 60)) {
      minute = days * kMinutesPerDay + (minute_of_day / 60 + 1) * 60;
    } else if (!HasBit(minutes_, minute_of_day % 60)) {
      minute += 1;
    } else {
      return minute * kMinuteMs;
    }
  }
  // NOTE: unreachable for expressions Parse accepts (see kMaxSearchSteps).
  return INT64_MAX;
}

int64_t CronSchedule::PreviousCalendar(int64_t at_ms) const {
  int64_t minute = FloorDiv(at_ms, kMinuteMs);
  for (int step = 0; step < kMaxSearchSteps; ++step) {
    int64_t days = FloorDiv(minute, kMinutesPerDay);
    int64_t minute_of_day = minute - days * kMinutesPerDay;
    chrono::year_month_day date = DateOf(days);
    if (!HasBit(months_, static_cast<unsigned>(date.month()))) {
      chrono::year_month_day first = date.year() / date.month() / chrono::day{1};
      minute = DaysOf(first) * kMinutesPerDay - 1;
    } else if (!MatchesDay(days)) {
      minute = days * kMinutesPerDay - 1;
    } else if (!HasBit(hours_, minute_of_day / 60)) {
      minute = days * kMinutesPerDay + (minute_of_day / 60) * 60 - 1;
    } else if (!HasBit(minutes_, minute_of_day % 60)) {
      minute -= 1;
    } else {
      return minute * kMinuteMs;
    }
  }
  return INT64_MIN;
}

}  // namespace tandem::schedules
