#include "serving/sagemaker_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

namespace tandem::serving {
namespace {

using ::testing::HasSubstr;

TEST(SageMakerProtocol, ContentTypes) {
  EXPECT_EQ(ParseContentType("application/json"), MediaType::kJson);
  EXPECT_EQ(ParseContentType("Application/JSON; charset=utf-8"), MediaType::kJson);
  EXPECT_EQ(ParseContentType(""), MediaType::kJson);
  EXPECT_EQ(ParseContentType("application/jsonlines"), MediaType::kJsonLines);
  EXPECT_EQ(ParseContentType("application/jsonl"), MediaType::kJsonLines);
  EXPECT_EQ(ParseContentType("text/csv; header=absent"), MediaType::kCsv);
}

TEST(SageMakerProtocol, RejectsTextPlain) {
  Result<MediaType> type = ParseContentType("text/plain");
  ASSERT_FALSE(type.has_value());
  EXPECT_EQ(type.error().code(), ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(HttpStatusFor(type.error().code()), 415);
  EXPECT_THAT(type.error().message(), HasSubstr("Content-Type \"text/plain\" is not supported"));
}

TEST(SageMakerProtocol, NegotiatesAccept) {
  EXPECT_EQ(NegotiateAccept("", MediaType::kCsv), MediaType::kCsv);
  EXPECT_EQ(NegotiateAccept("*/*", MediaType::kJsonLines), MediaType::kJsonLines);
  EXPECT_EQ(NegotiateAccept("text/csv", MediaType::kJson), MediaType::kCsv);
  EXPECT_EQ(NegotiateAccept("application/json", MediaType::kCsv), MediaType::kJson);
  EXPECT_EQ(NegotiateAccept("text/html, text/csv;q=0.5, application/json;q=0.9", MediaType::kCsv),
            MediaType::kJson);
  EXPECT_EQ(NegotiateAccept("application/json;q=0, text/csv", MediaType::kJson), MediaType::kCsv);
  EXPECT_EQ(NegotiateAccept("application/*", MediaType::kCsv), MediaType::kJson);
  EXPECT_EQ(NegotiateAccept("text/*", MediaType::kJson), MediaType::kCsv);
  EXPECT_EQ(NegotiateAccept("text/html", MediaType::kJson), std::nullopt);
  EXPECT_EQ(NegotiateAccept("application/json;q=0", MediaType::kJson), std::nullopt);
}

TEST(SageMakerProtocol, JsonBodyForms) {
  Result<std::vector<Json>> instances = ParseJsonRecords(R"({"instances": [{"a": 1}, {"a": 2}]})");
  ASSERT_TRUE(instances.has_value()) << instances.error().message();
  ASSERT_EQ(instances->size(), 2u);
  EXPECT_EQ((*instances)[1].at("a"), 2);

  Result<std::vector<Json>> single = ParseJsonRecords(R"({"a": 1, "b": "x"})");
  ASSERT_TRUE(single.has_value()) << single.error().message();
  ASSERT_EQ(single->size(), 1u);
  EXPECT_EQ((*single)[0].at("b"), "x");

  Result<std::vector<Json>> array = ParseJsonRecords(R"([{"a": 1}, {"a": 2}, {"a": 3}])");
  ASSERT_TRUE(array.has_value()) << array.error().message();
  EXPECT_EQ(array->size(), 3u);
}

TEST(SageMakerProtocol, RejectsBadJsonBodies) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {R"({"instances": [{"a": 1}, [1, 2]]})",
       "instances[1]: expected an object (a record), got array"},
      {R"({"instances": {"a": 1}})", "instances: expected an array of records, got object"},
      {R"({"instances": []})", "instances: empty, expected at least one record"},
      {R"([{"a": 1}, 5])", "request body[1]: expected an object (a record), got integer"},
      {R"([])", "request body: empty array"},
      {R"("text")", "request body: expected a record, an array of records"},
      {R"({"a": NaN})", "NaN and Infinity are not JSON"},
  };
  for (const auto& [body, needle] : cases) {
    Result<std::vector<Json>> records = ParseJsonRecords(body);
    ASSERT_FALSE(records.has_value()) << body;
    EXPECT_EQ(records.error().code(), ErrorCode::kInvalidArgument) << body;
    EXPECT_THAT(records.error().message(), HasSubstr(needle)) << body;
  }
}

TEST(SageMakerProtocol, JsonLines) {
  Result<std::vector<Json>> records = ParseJsonLinesRecords("{\"a\": 1}\r\n\n{\"a\": 2}\n");
  ASSERT_TRUE(records.has_value()) << records.error().message();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].at("a"), 2);

  Result<std::vector<Json>> bad = ParseJsonLinesRecords("{\"a\": 1}\n[1]\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("line 2: expected an object"));

  Result<std::vector<Json>> broken = ParseJsonLinesRecords("{\"a\": 1}\n{\"a\": \n");
  ASSERT_FALSE(broken.has_value());
  EXPECT_THAT(broken.error().message(), HasSubstr("line 2: invalid JSON"));

  Result<std::vector<Json>> empty = ParseJsonLinesRecords("\n\n");
  ASSERT_FALSE(empty.has_value());
  EXPECT_THAT(empty.error().message(), HasSubstr("no records"));
}

TEST(SageMakerProtocol, EncodesPredictions) {
  const float values[] = {0.25f, 0.1f};
  EXPECT_EQ(EncodePredictions(MediaType::kJson, values), R"({"predictions":[0.25,0.1]})");
  EXPECT_EQ(EncodePredictions(MediaType::kJsonLines, values),
            "{\"prediction\":0.25}\n{\"prediction\":0.1}\n");
  EXPECT_EQ(EncodePredictions(MediaType::kCsv, values), "0.25\n0.1\n");
  const float missing[] = {std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(EncodePredictions(MediaType::kCsv, missing), "\n");
  EXPECT_EQ(EncodePredictions(MediaType::kJson, missing), R"({"predictions":[null]})");
}

}  // namespace
}  // namespace tandem::serving
