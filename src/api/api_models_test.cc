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

}  // namespace
}  // namespace tandem::api
