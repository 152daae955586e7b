#include "schedules/cron.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"

namespace tandem::schedules {
namespace {

using ::testing::HasSubstr;

int64_t At(const std::string& iso8601) {
  auto parsed = ParseTimestamp(iso8601);
  EXPECT_TRUE(parsed) << parsed.error().message();
  return parsed.value_or(0);
}

CronSchedule MustParse(const std::string& expression) {
  auto parsed = CronSchedule::Parse(expression);
  EXPECT_TRUE(parsed) << parsed.error().message();
  if (!parsed) return *CronSchedule::Parse("* * * * *");
  return *parsed;
}

struct NextCase {
  std::string expression;
  std::string after;
  std::string next;
};

TEST(CronNext, Table) {
  const std::vector<NextCase> cases = {
      // Steps, lists and ranges.
      {"*/15 * * * *", "2026-12-04T15:07:30Z", "2026-12-04T15:15:00Z"},
      {"*/15 * * * *", "2026-12-04T15:15:00Z", "2026-12-04T15:30:00Z"},
      {"* * * * *", "2026-12-04T15:07:59.999Z", "2026-12-04T15:08:00Z"},
      {"5,35 * * * *", "2026-12-04T15:06:00Z", "2026-12-04T15:35:00Z"},
      {"0 22-23 * * *", "2026-12-04T23:00:00Z", "2026-12-05T22:00:00Z"},
      {"10-20/5 * * * *", "2026-12-04T15:16:00Z", "2026-12-04T15:20:00Z"},
      {"50/5 * * * *", "2026-12-04T15:56:00Z", "2026-12-04T16:50:00Z"},
      {"0 0 31 * *", "2026-11-01T00:00:00Z", "2026-12-31T00:00:00Z"},
      // Names, case-insensitive; 7 is Sunday.
      {"0 9 * * MON-FRI", "2026-12-04T09:00:00Z", "2026-12-07T09:00:00Z"},
      {"0 9 * * mon-fri", "2026-12-04T08:59:00Z", "2026-12-04T09:00:00Z"},
      {"30 2 * * 7", "2026-12-04T00:00:00Z", "2026-12-06T02:30:00Z"},
      {"30 2 * * SUN", "2026-12-04T00:00:00Z", "2026-12-06T02:30:00Z"},
      {"0 0 1 jan,Jul *", "2026-12-04T00:00:00Z", "2027-01-01T00:00:00Z"},
      // Month and year boundaries, leap days.
      {"0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"},
      {"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
      {"59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
      // Both day fields restricted: either matches.
      {"0 0 13 * FRI", "2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z"},
      {"0 0 13 * FRI", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"},
      // A day field starting with '*' makes both required.
      {"0 0 */2 * MON", "2026-12-04T00:00:00Z", "2026-12-07T00:00:00Z"},
      {"0 0 */2 * MON", "2026-12-07T00:00:00Z", "2026-12-21T00:00:00Z"},
      // Macros.
      {"@hourly", "2026-12-04T15:07:30Z", "2026-12-04T16:00:00Z"},
      {"@daily", "2026-12-04T15:07:30Z", "2026-12-05T00:00:00Z"},
      {"@midnight", "2026-12-04T15:07:30Z", "2026-12-05T00:00:00Z"},
      {"@weekly", "2026-12-04T15:07:30Z", "2026-12-06T00:00:00Z"},
      {"@monthly", "2026-12-04T15:07:30Z", "2027-01-01T00:00:00Z"},
      {"@yearly", "2026-12-04T15:07:30Z", "2027-01-01T00:00:00Z"},
      {"@annually", "2026-12-04T15:07:30Z", "2027-01-01T00:00:00Z"},
      // Fixed periods count from the Unix epoch.
      {"@every 15m", "2026-12-04T15:07:30Z", "2026-12-04T15:15:00Z"},
      {"@every 2s", "2026-12-04T15:07:30.500Z", "2026-12-04T15:07:32Z"},
      {"@every 2s", "2026-12-04T15:07:32Z", "2026-12-04T15:07:34Z"},
      {"@every 1h30m", "2026-12-04T15:07:30Z", "2026-12-04T16:30:00Z"},
      {"@every 1h", "2026-12-04T15:00:00Z", "2026-12-04T16:00:00Z"},
      {"@EVERY 90s", "2026-12-04T15:00:00Z", "2026-12-04T15:01:30Z"},
      // Extra whitespace between fields.
      {"  0   12  * *   *  ", "2026-12-04T15:07:30Z", "2026-12-05T12:00:00Z"},
  };
  for (const NextCase& c : cases) {
    SCOPED_TRACE(c.expression + " after " + c.after);
    CronSchedule schedule = MustParse(c.expression);
    EXPECT_EQ(FormatTimestamp(schedule.Next(At(c.after))), FormatTimestamp(At(c.next)));
  }
}

TEST(CronPrevious, Table) {
  const std::vector<NextCase> cases = {
      // {expression, at, previous}
      {"*/15 * * * *", "2026-12-04T15:07:30Z", "2026-12-04T15:00:00Z"},
      {"*/15 * * * *", "2026-12-04T15:15:00Z", "2026-12-04T15:15:00Z"},
      {"0 9 * * MON-FRI", "2026-12-07T08:00:00Z", "2026-12-04T09:00:00Z"},
      {"0 0 1 * *", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
      {"0 0 1 * *", "2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z"},
      {"0 0 29 2 *", "2028-02-28T00:00:00Z", "2024-02-29T00:00:00Z"},
      {"0 0 13 * FRI", "2026-12-12T00:00:00Z", "2026-12-11T00:00:00Z"},
      {"@every 15m", "2026-12-04T15:07:30Z", "2026-12-04T15:00:00Z"},
      {"@every 2s", "2026-12-04T15:07:33Z", "2026-12-04T15:07:32Z"},
  };
  for (const NextCase& c : cases) {
    SCOPED_TRACE(c.expression + " at " + c.after);
    CronSchedule schedule = MustParse(c.expression);
    EXPECT_EQ(FormatTimestamp(schedule.Previous(At(c.after))), FormatTimestamp(At(c.next)));
  }
}

// Next and Previous agree: the next slot is a slot, and none lies between a
// time and its next slot.
TEST(CronNext, AgreesWithPrevious) {
  const std::vector<std::string> expressions = {
      "*/7 * * * *", "0 */5 * * *", "15 3 * * MON,THU", "0 0 13 * FRI", "0 0 */2 * MON",
      "0 12 1,15 FEB-MAR *", "@every 45m", "@every 7s"};
  int64_t start = At("2027-02-25T00:00:00Z");
  for (const std::string& expression : expressions) {
    SCOPED_TRACE(expression);
    CronSchedule schedule = MustParse(expression);
    for (int64_t t = start; t < start + int64_t{10} * 86400 * 1000; t += 7 * 60 * 1000 + 13) {
      int64_t next = schedule.Next(t);
      ASSERT_GT(next, t);
      ASSERT_EQ(schedule.Previous(next), next);
      ASSERT_LE(schedule.Previous(next - 1), t);
    }
  }
}

TEST(CronParse, ExposesPeriod) {
  EXPECT_EQ(MustParse("@every 15m").period_ms(), 15 * 60 * 1000);
  EXPECT_EQ(MustParse("@every 1h30m5s").period_ms(), (5400 + 5) * 1000);
  EXPECT_EQ(MustParse("*/15 * * * *").period_ms(), 0);
  EXPECT_EQ(MustParse("@daily").expression(), "@daily");
}

struct BadCase {
  std::string expression;
  std::string error;
};

TEST(CronParse, RejectsBadExpressions) {
  const std::vector<BadCase> cases = {
      {"", "cron expression \"\": empty"},
      {"* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
      {"* * * * * *", "got 6"},
      {"60 * * * *", "minute field: \"60\" is out of range 0-59"},
      {"* 24 * * *", "hour field: \"24\" is out of range 0-23"},
      {"* * 0 * *", "day-of-month field: \"0\" is out of range 1-31"},
      {"* * * 13 *", "month field: \"13\" is out of range 1-12"},
      {"* * * * 8", "day-of-week field: \"8\" is out of range 0-7"},
      {"* * * FOO *", "month field: \"FOO\" is not a number or a name (JAN-DEC)"},
      {"* * * * MONDAY", "day-of-week field: \"MONDAY\" is not a number or a name (SUN-SAT)"},
      {"a * * * *", "minute field: \"a\" is not a number"},
      {"-5 * * * *", "minute field: \"\" is not a number"},
      {"*/0 * * * *", "minute field: step \"0\" in \"*/0\" must be a number from 1 to 59"},
      {"*/x * * * *", "minute field: step \"x\" in \"*/x\""},
      {"5-1 * * * *", "minute field: range \"5-1\" runs backwards"},
      {"1,,2 * * * *", "minute field: empty list item"},
      {"0 0 30 2 *", "day-of-month field: \"30\" never occurs in the months \"2\""},
      {"0 0 31 APR,JUN *", "never occurs"},
      {"@every", "@every takes one duration"},
      {"@every 15m 2s", "@every takes one duration"},
      {"@every 0s", "@every duration \"0s\": shorter than the minimum of 1s"},
      {"@every 15x", "@every duration \"15x\": unknown unit \"x\", expected h, m or s"},
      {"@every 15", "a number lacks its unit"},
      {"@every 500ms", "expected a number at \"s\""},
      {"@every 30m1h", "units must appear once each, in the order h, m, s"},
      {"@every 1m1m", "units must appear once each"},
      {"@every 9000h", "longer than 366 days"},
      {"@every 99999999999h", "a number is too large"},
      {"@fortnightly", "unknown \"@fortnightly\", expected @hourly, @daily"},
      {"@daily 5", "@daily takes nothing after it"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.expression);
    auto parsed = CronSchedule::Parse(c.expression);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(parsed.error().message(), HasSubstr(c.error));
    EXPECT_THAT(parsed.error().message(),
                HasSubstr("cron expression \"" + c.expression + "\""));
  }
}

}  // namespace
}  // namespace tandem::schedules
