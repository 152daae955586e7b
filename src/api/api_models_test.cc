// The model registry routes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "api/api_test_fixture.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

class ApiModelsTest : public ApiTest {
 protected:
  // Runs one job to Completed with a package whose first byte is `fill`;
  // returns the package.
  std::string CompleteJobWithPackage(const std::string& name, char fill) {
    Json job = CreateJob(ValidSpec(name));
    std::string id = job["JobId"];
    std::string token = JobTokenOf(id);
    std::string archive(1024, '\0');
    archive.replace(257, 5, "ustar");
    archive[0] = fill;
    http::Response uploaded = Send("PUT", fmt::format("/api/v1/jobs/{}/model-package", id),
                                   archive, token, "application/x-tar");
    EXPECT_EQ(uploaded.status, 201) << uploaded.body;
    Json manifest = {{"ModelName", "flights-delay"}, {"Metrics", {{"Rmse", 1.5}}}};
    Json event = RuntimeEvent("completed", "Completed", kStartMillis + 1000,
                              {{"ModelPackage", {{"Digest", BodyOf(uploaded)["Digest"]},
                                                 {"SizeBytes", archive.size()},
                                                 {"Manifest", manifest}}}});
    http::Response posted =
        Send("POST", fmt::format("/api/v1/jobs/{}/events", id), DumpJson(event), token);
    EXPECT_EQ(posted.status, 202) << posted.body;
    return archive;
  }
};

TEST_F(ApiModelsTest, UnknownModelReturns404) {
  http::Response response = Send("GET", "/api/v1/models/nothing");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(BodyOf(response)["code"], "not_found");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("nothing"));
  EXPECT_EQ(Send("GET", "/api/v1/models/nothing/versions/latest").status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/models/nothing/versions/1/package").status, 404);
}

TEST_F(ApiModelsTest, VersionsAreNumberedAndLatestResolves) {
  CompleteJobWithPackage("run-1", 'a');
  std::string second = CompleteJobWithPackage("run-2", 'b');

  Json latest = BodyOf(Send("GET", "/api/v1/models/flights-delay/versions/latest"));
  EXPECT_EQ(latest["Version"], 2);
  EXPECT_EQ(latest["TrainingJobName"], "run-2");
  EXPECT_EQ(latest["Manifest"]["Metrics"]["Rmse"], 1.5);
  Json first = BodyOf(Send("GET", "/api/v1/models/flights-delay/versions/1"));
  EXPECT_EQ(first["TrainingJobName"], "run-1");
  Json model = BodyOf(Send("GET", "/api/v1/models/flights-delay"));
  ASSERT_EQ(model["Versions"].size(), 2u);
  EXPECT_EQ(model["Versions"][0]["Version"], 2);

  http::Response package = Send("GET", "/api/v1/models/flights-delay/versions/2/package");
  EXPECT_EQ(package.status, 200);
  EXPECT_EQ(package.content_type, "application/x-tar");
  EXPECT_EQ(package.body, second);
}

TEST_F(ApiModelsTest, UnknownVersionReturns404) {
  CompleteJobWithPackage("run-1", 'a');
  http::Response response = Send("GET", "/api/v1/models/flights-delay/versions/9");
  EXPECT_EQ(response.status, 404);
}

TEST_F(ApiModelsTest, InvalidVersionReturns400) {
  for (const char* version : {"0", "-1", "two", "1x"}) {
    http::Response response =
        Send("GET", fmt::format("/api/v1/models/flights-delay/versions/{}", version));
    EXPECT_EQ(response.status, 400) << version;
    EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr(version));
  }
}

TEST_F(ApiModelsTest, AliasSetMoveAndDelete) {
  CompleteJobWithPackage("run-1", 'a');
  CompleteJobWithPackage("run-2", 'b');
  const std::string url = "/api/v1/models/flights-delay/aliases/production";

  http::Response set = Send("PUT", url, R"({"Version": 1})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(BodyOf(set)["Version"], 1);
  EXPECT_EQ(BodyOf(set)["Alias"], "production");
  EXPECT_EQ(BodyOf(Send("GET", url, "", ""))["Version"], 1);

  http::Response moved = Send("PUT", url, R"({"Version": 2})");
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(BodyOf(Send("GET", url, "", ""))["Version"], 2);
  Json model = BodyOf(Send("GET", "/api/v1/models/flights-delay"));
  ASSERT_EQ(model["Aliases"].size(), 1u);
  EXPECT_EQ(model["Aliases"][0]["Alias"], "production");
  EXPECT_EQ(model["Aliases"][0]["Version"], 2);

  EXPECT_EQ(Send("DELETE", url).status, 200);
  EXPECT_EQ(Send("GET", url, "", "").status, 404);
  EXPECT_EQ(Send("DELETE", url).status, 404);
  EXPECT_TRUE(BodyOf(Send("GET", "/api/v1/models/flights-delay"))["Aliases"].empty());
}

TEST_F(ApiModelsTest, AliasNeedsAdminToken) {
  CompleteJobWithPackage("run-1", 'a');
  const std::string url = "/api/v1/models/flights-delay/aliases/production";
  EXPECT_EQ(Send("PUT", url, R"({"Version": 1})", "").status, 401);
  EXPECT_EQ(Send("PUT", url, R"({"Version": 1})", "wrong-token").status, 401);
  ASSERT_EQ(Send("PUT", url, R"({"Version": 1})").status, 200);
  EXPECT_EQ(Send("DELETE", url, "", "").status, 401);
  EXPECT_EQ(Send("DELETE", url, "", "wrong-token").status, 401);
  EXPECT_EQ(BodyOf(Send("GET", url, "", ""))["Version"], 1);
}

TEST_F(ApiModelsTest, AliasUnknownModelOrVersion) {
  CompleteJobWithPackage("run-1", 'a');
  http::Response version =
      Send("PUT", "/api/v1/models/flights-delay/aliases/production", R"({"Version": 7})");
  EXPECT_EQ(version.status, 404);
  EXPECT_THAT(BodyOf(version)["error"].get<std::string>(), HasSubstr("version 7"));
  http::Response model = Send("PUT", "/api/v1/models/nothing/aliases/production",
                              R"({"Version": 1})");
  EXPECT_EQ(model.status, 404);
  EXPECT_THAT(BodyOf(model)["error"].get<std::string>(), HasSubstr("nothing"));
  EXPECT_EQ(Send("GET", "/api/v1/models/flights-delay/aliases/staging", "", "").status, 404);
}

TEST_F(ApiModelsTest, AliasBadNamesAndBodies) {
  CompleteJobWithPackage("run-1", 'a');
  struct Case {
    std::string alias;
    std::string body;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"7", R"({"Version": 1})", "must start with a letter"},
      {"latest", R"({"Version": 1})", "reserved"},
      {"prod_1", R"({"Version": 1})", "contains '_'"},
      {"prod-", R"({"Version": 1})", "start and end"},
      {std::string(64, 'a'), R"({"Version": 1})", "1-63 characters"},
      {"production", R"({"Version": 0})", "positive integer"},
      {"production", R"({"Version": "1"})", "Version"},
      {"production", R"({})", "Version"},
      {"production", R"({"Version": 1, "Stage": "x"})", "Stage"},
      {"production", R"([1])", "object"},
      {"production", "not json", "request body"},
  };
  for (const Case& test : cases) {
    http::Response response = Send(
        "PUT", fmt::format("/api/v1/models/flights-delay/aliases/{}", test.alias), test.body);
    EXPECT_EQ(response.status, 400) << test.alias << " " << test.body;
    EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr(test.error))
        << test.alias << " " << test.body;
  }
}

}  // namespace
}  // namespace tandem::api
