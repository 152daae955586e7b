#include "common/json_util.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

Json Parse(std::string_view text) {
  Result<Json> parsed = ParseJson(text, "test document");
  EXPECT_TRUE(parsed.has_value()) << parsed.error().message();
  return parsed.value_or(Json());
}

// Asserts that `result` failed with kInvalidArgument and exactly `message`.
template <typename T>
void ExpectInvalid(const Result<T>& result, std::string_view message) {
  ASSERT_FALSE(result.has_value()) << "expected error: " << message;
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message(), message);
}

std::string Nested(int depth) {
  return std::string(size_t(depth), '[') + std::string(size_t(depth), ']');
}

TEST(ParseJsonTest, ParsesDocument) {
  Json value = Parse(R"({"a": [1, 2.5, "x", true, null]})");
  EXPECT_EQ(value["a"].size(), 5u);
}

TEST(ParseJsonTest, EmptyBody) {
  ExpectInvalid(ParseJson("", "request body"), "request body: empty, expected a JSON document");
  ExpectInvalid(ParseJson(" \n\t ", "request body"),
                "request body: empty, expected a JSON document");
}

TEST(ParseJsonTest, TruncatedJson) {
  Result<Json> parsed = ParseJson(R"({"name": "job-1", "count": )", "job spec");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(parsed.error().message().starts_with("job spec: invalid JSON at byte "))
      << parsed.error().message();
}

TEST(ParseJsonTest, NumberOutOfRange) {
  auto result = ParseJson("{\"x\": 1e400}", "request body");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message(), "request body: a number is outside the range of a double");
}

TEST(ParseJsonTest, TrailingGarbage) {
  Result<Json> parsed = ParseJson(R"({"a": 1} x)", "config file");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(parsed.error().message().starts_with("config file: invalid JSON at byte"));
}

TEST(ParseJsonTest, DeepNesting) {
  EXPECT_TRUE(ParseJson(Nested(64), "doc").has_value());
  ExpectInvalid(ParseJson(Nested(65), "doc"), "doc: JSON nested deeper than 64 levels");
  ExpectInvalid(ParseJson(Nested(20000), "doc"), "doc: JSON nested deeper than 64 levels");
}

TEST(DumpJsonTest, ReplacesInvalidUtf8) {
  Json value = std::string("a\xff" "b");
  EXPECT_EQ(DumpJson(value), "\"a\xef\xbf\xbd" "b\"");
  EXPECT_EQ(DumpJson(Json{{"k", 1}}), R"({"k":1})");
}

TEST(JsonPathTest, JoinAndTypeNames) {
  EXPECT_EQ(JoinPath("", "Name"), "Name");
  EXPECT_EQ(JoinPath("ResourceConfig", "InstanceCount"), "ResourceConfig.InstanceCount");
  EXPECT_EQ(JsonTypeName(Json(nullptr)), "null");
  EXPECT_EQ(JsonTypeName(Json::object()), "object");
  EXPECT_EQ(JsonTypeName(Json::array()), "array");
  EXPECT_EQ(JsonTypeName(Json("s")), "string");
  EXPECT_EQ(JsonTypeName(Json(true)), "boolean");
  EXPECT_EQ(JsonTypeName(Json(-1)), "integer");
  EXPECT_EQ(JsonTypeName(Json(1u)), "integer");
  EXPECT_EQ(JsonTypeName(Json(1.5)), "number");
}

TEST(RequireObjectTest, NamesPath) {
  EXPECT_TRUE(RequireObject(Json::object(), "x").has_value());
  ExpectInvalid(RequireObject(Json::array(), "ResourceConfig"),
                "ResourceConfig: expected an object, got array");
  ExpectInvalid(RequireObject(Json(3), ""), "document: expected an object, got integer");
}

TEST(RejectUnknownFieldsTest, NamesFirstUnknown) {
  Json object = Parse(R"({"Name": "x", "Typo": 1})");
  EXPECT_TRUE(RejectUnknownFields(object, "Spec", {"Name", "Typo"}).has_value());
  ExpectInvalid(RejectUnknownFields(object, "Spec", {"Name"}), "Spec.Typo: unknown field");
}

class GetterTest : public ::testing::Test {
 protected:
  Json object_ = Parse(R"({
    "s": "text", "i": 42, "neg": -7, "big": 18446744073709551615, "f": 2.5,
    "b": true, "n": null, "arr": [1], "obj": {}
  })");
};

TEST_F(GetterTest, StringFound) {
  EXPECT_EQ(GetString(object_, "s", "Spec"), "text");
  EXPECT_EQ(GetOptionalString(object_, "s", "Spec").value(), std::optional<std::string>("text"));
}

TEST_F(GetterTest, StringMissingAndMistyped) {
  ExpectInvalid(GetString(object_, "absent", "Spec"), "Spec.absent: missing required field");
  ExpectInvalid(GetString(object_, "n", "Spec"), "Spec.n: missing required field");
  ExpectInvalid(GetString(object_, "i", "Spec"), "Spec.i: expected a string, got integer");
  ExpectInvalid(GetOptionalString(object_, "arr", "Spec"), "Spec.arr: expected a string, got array");
  EXPECT_EQ(GetOptionalString(object_, "absent", "Spec").value(), std::optional<std::string>());
  EXPECT_EQ(GetOptionalString(object_, "n", "Spec").value(), std::optional<std::string>());
}

TEST_F(GetterTest, IntFoundAndRange) {
  EXPECT_EQ(GetInt(object_, "i", "R"), 42);
  EXPECT_EQ(GetInt(object_, "neg", "R"), -7);
  ExpectInvalid(GetInt(object_, "big", "R"), "R.big: integer out of range");
}

TEST_F(GetterTest, IntMissingAndMistyped) {
  ExpectInvalid(GetInt(object_, "absent", "ResourceConfig"),
                "ResourceConfig.absent: missing required field");
  ExpectInvalid(GetInt(object_, "f", "ResourceConfig"),
                "ResourceConfig.f: expected an integer, got number");
  ExpectInvalid(GetInt(object_, "s", "ResourceConfig"),
                "ResourceConfig.s: expected an integer, got string");
  ExpectInvalid(GetOptionalInt(object_, "b", "ResourceConfig"),
                "ResourceConfig.b: expected an integer, got boolean");
  EXPECT_EQ(GetOptionalInt(object_, "absent", "R").value(), std::optional<int64_t>());
}

TEST_F(GetterTest, NumberAcceptsIntegers) {
  EXPECT_EQ(GetNumber(object_, "f", "H"), 2.5);
  EXPECT_EQ(GetNumber(object_, "i", "H"), 42.0);
  ExpectInvalid(GetNumber(object_, "absent", "H"), "H.absent: missing required field");
  ExpectInvalid(GetNumber(object_, "s", "H"), "H.s: expected a number, got string");
  ExpectInvalid(GetOptionalNumber(object_, "obj", "H"), "H.obj: expected a number, got object");
  EXPECT_EQ(GetOptionalNumber(object_, "n", "H").value(), std::optional<double>());
}

TEST_F(GetterTest, BoolMissingAndMistyped) {
  EXPECT_EQ(GetBool(object_, "b", "C"), true);
  ExpectInvalid(GetBool(object_, "absent", "C"), "C.absent: missing required field");
  ExpectInvalid(GetBool(object_, "i", "C"), "C.i: expected a boolean, got integer");
  ExpectInvalid(GetOptionalBool(object_, "s", "C"), "C.s: expected a boolean, got string");
  EXPECT_EQ(GetOptionalBool(object_, "absent", "C").value(), std::optional<bool>());
}

TEST_F(GetterTest, EmptyPathNamesKeyAlone) {
  ExpectInvalid(GetString(object_, "absent", ""), "absent: missing required field");
}

TEST_F(GetterTest, IndexedPath) {
  ExpectInvalid(GetString(object_, "ChannelName", "InputDataConfig[0]"),
                "InputDataConfig[0].ChannelName: missing required field");
}

}  // namespace
}  // namespace tandem
