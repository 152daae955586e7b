#include "model/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/test_util.h"

namespace tandem::model {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;

struct ReadResult {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> records;
  std::vector<size_t> lines;
};

// Reads a whole file, copying each record.
Result<ReadResult> ReadAll(const std::filesystem::path& path) {
  TANDEM_ASSIGN_OR_RETURN(CsvReader reader, CsvReader::Open(path));
  ReadResult result;
  result.header = reader.header();
  auto summary = reader.ReadRecords([&](const CsvRecord& record) {
    result.records.emplace_back(record.fields.begin(), record.fields.end());
    result.lines.push_back(record.line);
    return true;
  });
  if (!summary) return std::unexpected(summary.error());
  return result;
}

TEST(CsvReaderTest, ReadsHeaderAndRecords) {
  ScratchDir dir;
  auto file = dir.Write("a.csv", "x,y,z\n1,2,3\n4,,6\n");
  auto result = ReadAll(file);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->header, (std::vector<std::string>{"x", "y", "z"}));
  ASSERT_EQ(result->records.size(), 2u);
  EXPECT_EQ(result->records[0], (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(result->records[1], (std::vector<std::string>{"4", "", "6"}));
  EXPECT_EQ(result->lines, (std::vector<size_t>{2, 3}));
}

TEST(CsvReaderTest, AcceptsCrlfAndMissingFinalNewline) {
  ScratchDir dir;
  auto file = dir.Write("a.csv", "a,b\r\n1,2\r\n3,4");
  auto result = ReadAll(file);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->header, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(result->records.size(), 2u);
  EXPECT_EQ(result->records[0], (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(result->records[1], (std::vector<std::string>{"3", "4"}));
}

TEST(CsvReaderTest, UnescapesQuotedFields) {
  ScratchDir dir;
  auto file = dir.Write("q.csv",
                        "name,note\n"
                        "\"a,b\",\"say \"\"hi\"\"\"\n"
                        "\"multi\nline\",\"\"\n"
                        "plain,\"\"\"\"\n");
  auto result = ReadAll(file);
  ASSERT_TRUE(result) << result.error().message();
  ASSERT_EQ(result->records.size(), 3u);
  EXPECT_EQ(result->records[0], (std::vector<std::string>{"a,b", "say \"hi\""}));
  EXPECT_EQ(result->records[1], (std::vector<std::string>{"multi\nline", ""}));
  EXPECT_EQ(result->records[2], (std::vector<std::string>{"plain", "\""}));
  // The second record spans lines 3-4, so the third starts on line 5.
  EXPECT_EQ(result->lines, (std::vector<size_t>{2, 3, 5}));
}

TEST(CsvReaderTest, SkipsEmptyLinesAndCountsThem) {
  ScratchDir dir;
  auto file = dir.Write("e.csv", "a\n\n1\r\n\r\n2\n\n");
  auto result = ReadAll(file);
  ASSERT_TRUE(result) << result.error().message();
  ASSERT_EQ(result->records.size(), 2u);
  EXPECT_EQ(result->lines, (std::vector<size_t>{3, 5}));
}

TEST(CsvReaderTest, StripsByteOrderMark) {
  ScratchDir dir;
  auto file = dir.Write("bom.csv", "\xEF\xBB\xBF" "a,b\n1,2\n");
  auto result = ReadAll(file);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->header, (std::vector<std::string>{"a", "b"}));
}

TEST(CsvReaderTest, StopsWhenCallbackReturnsFalse) {
  ScratchDir dir;
  auto file = dir.Write("s.csv", "a\n1\n2\n3\n4\n");
  auto reader = CsvReader::Open(file);
  ASSERT_TRUE(reader) << reader.error().message();
  std::vector<std::string> seen;
  auto summary = reader->ReadRecords([&](const CsvRecord& record) {
    seen.emplace_back(record.fields[0]);
    return seen.size() < 2;
  });
  ASSERT_TRUE(summary) << summary.error().message();
  EXPECT_TRUE(summary->stopped_early);
  EXPECT_EQ(summary->records, 2u);
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2"}));
}

TEST(CsvReaderTest, SecondReadFails) {
  ScratchDir dir;
  auto reader = CsvReader::Open(dir.Write("s.csv", "a\n1\n"));
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->ReadRecords([](const CsvRecord&) { return true; }));
  auto again = reader->ReadRecords([](const CsvRecord&) { return true; });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
}

TEST(CsvReaderTest, EmptyFileIsRejected) {
  ScratchDir dir;
  auto file = dir.Write("empty.csv", "");
  auto reader = CsvReader::Open(file);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reader.error().message(),
            fmt::format("file {} is empty, expected a header row", file.string()));
}

TEST(CsvReaderTest, BlankOnlyFileIsRejected) {
  ScratchDir dir;
  auto reader = CsvReader::Open(dir.Write("blank.csv", "\n\r\n"));
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(reader.error().message(), HasSubstr("is empty, expected a header row"));
}

TEST(CsvReaderTest, MissingFileIsNotFound) {
  ScratchDir dir;
  auto reader = CsvReader::Open(dir.path() / "absent.csv");
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(reader.error().message(), HasSubstr("absent.csv"));
}

TEST(CsvReaderTest, DirectoryIsRejected) {
  ScratchDir dir;
  auto reader = CsvReader::Open(dir.path());
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(reader.error().message(), HasSubstr("not a regular file"));
}

TEST(CsvReaderTest, RepeatedHeaderColumnIsRejected) {
  ScratchDir dir;
  auto reader = CsvReader::Open(dir.Write("d.csv", "a,b,a\n1,2,3\n"));
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(reader.error().message(), HasSubstr("line 1: header repeats column \"a\""));
}

TEST(CsvReaderTest, TooManyFieldsNamesFileAndLine) {
  ScratchDir dir;
  auto file = dir.Write("wide.csv", "a,b\n1,2\n3,4,5\n");
  auto result = ReadAll(file);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message(),
            fmt::format("file {} line 3: record has 3 fields, the header has 2", file.string()));
}

TEST(CsvReaderTest, TooFewFieldsNamesFileAndLine) {
  ScratchDir dir;
  auto file = dir.Write("narrow.csv", "a,b\n1\n");
  auto result = ReadAll(file);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message(),
            fmt::format("file {} line 2: record has 1 fields, the header has 2", file.string()));
}

TEST(CsvReaderTest, UnterminatedQuoteNamesLine) {
  ScratchDir dir;
  auto file = dir.Write("open.csv", "a,b\n1,2\n3,\"never closed\n4,5\n");
  auto result = ReadAll(file);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(result.error().message(), HasSubstr(file.string() + " line 3"));
  EXPECT_THAT(result.error().message(), HasSubstr("field 2 has an unterminated quoted value"));
}

TEST(CsvReaderTest, QuoteInsideUnquotedFieldIsRejected) {
  ScratchDir dir;
  auto file = dir.Write("bad.csv", "a,b\n1,ab\"c\n");
  auto result = ReadAll(file);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(result.error().message(), HasSubstr("line 2: field 2 contains a quote"));
}

TEST(CsvReaderTest, TextAfterClosingQuoteIsRejected) {
  ScratchDir dir;
  auto file = dir.Write("bad.csv", "a,b\n\"x\"y,1\n");
  auto result = ReadAll(file);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(result.error().message(), HasSubstr("line 2: field 1 has text after its closing quote"));
}

TEST(CsvReaderTest, ReadsManyRecords) {
  ScratchDir dir;
  std::string text = "id,value,name\n";
  constexpr int kRecords = 100000;
  for (int i = 0; i < kRecords; ++i) text += fmt::format("{},{}.5,\"n{}\"\n", i, i, i);
  auto reader = CsvReader::Open(dir.Write("big.csv", text));
  ASSERT_TRUE(reader);
  long long id_sum = 0;
  size_t last_line = 0;
  auto summary = reader->ReadRecords([&](const CsvRecord& record) {
    id_sum += std::stoll(std::string(record.fields[0]));
    last_line = record.line;
    return true;
  });
  ASSERT_TRUE(summary) << summary.error().message();
  EXPECT_EQ(summary->records, static_cast<size_t>(kRecords));
  EXPECT_EQ(id_sum, static_cast<long long>(kRecords) * (kRecords - 1) / 2);
  EXPECT_EQ(last_line, static_cast<size_t>(kRecords + 1));
}

TEST(ParseCsvLineTest, ParsesOneRecord) {
  auto fields = ParseCsvLine("1200,\"2023-01-05 10:30\",\"JFK\",LAX\r\n");
  ASSERT_TRUE(fields) << fields.error().message();
  EXPECT_EQ(*fields, (std::vector<std::string>{"1200", "2023-01-05 10:30", "JFK", "LAX"}));
}

TEST(ParseCsvLineTest, EmptyLineIsOneEmptyField) {
  auto fields = ParseCsvLine("");
  ASSERT_TRUE(fields);
  EXPECT_EQ(*fields, (std::vector<std::string>{""}));
}

TEST(ParseCsvLineTest, RejectsTwoRecords) {
  auto fields = ParseCsvLine("1,2\n3,4\n");
  ASSERT_FALSE(fields);
  EXPECT_EQ(fields.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(fields.error().message(), HasSubstr("expected one record"));
}

TEST(ParseCsvLineTest, RejectsUnterminatedQuote) {
  auto fields = ParseCsvLine("1,\"abc");
  ASSERT_FALSE(fields);
  EXPECT_EQ(fields.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(fields.error().message(), HasSubstr("line 1: field 2 has an unterminated"));
}

TEST(ParseCsvTextTest, HandsEveryRecordWithoutHeader) {
  std::vector<std::vector<std::string>> records;
  auto summary = ParseCsvText("1,a\n2,\"b,c\",extra\n", "request body",
                              [&](const CsvRecord& record) {
                                records.emplace_back(record.fields.begin(), record.fields.end());
                                return true;
                              });
  ASSERT_TRUE(summary) << summary.error().message();
  EXPECT_EQ(summary->records, 2u);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], (std::vector<std::string>{"1", "a"}));
  EXPECT_EQ(records[1], (std::vector<std::string>{"2", "b,c", "extra"}));
}

TEST(ParseCsvTextTest, ErrorNamesSource) {
  auto summary = ParseCsvText("1,2\n3,x\"y\n", "request body",
                              [](const CsvRecord&) { return true; });
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(summary.error().message(), HasSubstr("request body line 2"));
}

}  // namespace
}  // namespace tandem::model
