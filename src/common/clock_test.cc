#include "common/clock.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tandem {
namespace {

TEST(FormatTimestampTest, KnownInstants) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1796413325123), "2026-12-04T19:42:05.123Z");
  EXPECT_EQ(FormatTimestamp(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
}

TEST(ParseTimestampTest, RoundTrips) {
  for (int64_t millis : {int64_t{0}, int64_t{1796413325123}, int64_t{-1}, int64_t{951782400000},
                         int64_t{253402300799999}}) {
    Result<int64_t> parsed = ParseTimestamp(FormatTimestamp(millis));
    ASSERT_TRUE(parsed.has_value()) << FormatTimestamp(millis);
    EXPECT_EQ(*parsed, millis);
  }
}

TEST(ParseTimestampTest, AcceptedForms) {
  EXPECT_EQ(ParseTimestamp("2026-12-04T19:42:05Z"), 1796413325000);
  EXPECT_EQ(ParseTimestamp("2026-12-04t19:42:05.1z"), 1796413325100);
  EXPECT_EQ(ParseTimestamp("2026-12-04 19:42:05.123456Z"), 1796413325123);
  EXPECT_EQ(ParseTimestamp("2026-12-04T21:42:05.123+02:00"), 1796413325123);
  EXPECT_EQ(ParseTimestamp("2026-12-04T14:12:05.123-05:30"), 1796413325123);
}

TEST(ParseTimestampTest, RejectsMalformed) {
  struct Case {
    std::string_view text;
    std::string_view problem;
  };
  for (const Case& c : std::vector<Case>{
           {"", "the date is not YYYY-MM-DD"},
           {"2026-12-4T19:42:05Z", "the date is not YYYY-MM-DD"},
           {"2026-12-04", "the time of day is not THH:MM:SS"},
           {"2026-12-04T19:42Z", "the time of day is not THH:MM:SS"},
           {"2026-12-04T19:42:05", "the time zone is not Z or +HH:MM"},
           {"2026-12-04T19:42:05Zjunk", "the time zone is not Z or +HH:MM"},
           {"2026-12-04T19:42:05+0200", "the time zone is not Z or +HH:MM"},
           {"2026-12-04T19:42:05.Z", "no digits after the decimal point"},
           {"2026-02-30T00:00:00Z", "no such calendar date"},
           {"2026-13-01T00:00:00Z", "no such calendar date"},
           {"2026-12-04T24:00:00Z", "the time of day is out of range"},
           {"2026-12-04T23:60:00Z", "the time of day is out of range"},
       }) {
    Result<int64_t> parsed = ParseTimestamp(c.text);
    ASSERT_FALSE(parsed.has_value()) << c.text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    const std::string& message = parsed.error().message();
    EXPECT_NE(message.find(fmt::format("\"{}\"", c.text)), std::string::npos) << message;
    EXPECT_NE(message.find(c.problem), std::string::npos) << message;
  }
}

TEST(SystemClockTest, IsAfter2024) {
  EXPECT_GT(SystemClock::Instance().NowMillis(), int64_t{1704067200000});
  EXPECT_EQ(&SystemClock::Instance(), &SystemClock::Instance());
}

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowMillis(), 1000);
  clock.Advance(250);
  EXPECT_EQ(clock.NowMillis(), 1250);
  clock.Set(5);
  EXPECT_EQ(clock.NowMillis(), 5);
  const Clock& as_interface = clock;
  EXPECT_EQ(as_interface.NowMillis(), 5);
}

TEST(FakeClockTest, ConcurrentAdvance) {
  FakeClock clock(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < 10000; ++i) clock.Advance(1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(clock.NowMillis(), 40000);
}

}  // namespace
}  // namespace tandem
