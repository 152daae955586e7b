#include "serving/repository_service.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "serving/test_package.h"
#include "serving/test_server.h"

namespace tandem::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TestServer;

constexpr std::string_view kToken = "s3cret-admin-token";

http::HeaderList Bearer(std::string_view token) {
  return {{"Authorization", fmt::format("Bearer {}", token)}};
}

void ExpectError(const http::Response& response, int status, std::string_view needle) {
  EXPECT_EQ(response.status, status) << response.body;
  EXPECT_THAT(response.body, HasSubstr(needle));
}

class RepositoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_.path() / "models";
    for (auto [version, rounds] : {std::pair{"1", 20}, std::pair{"2", 35}}) {
      Status built =
          testing::BuildTestPackage(root_ / "flights-delay" / version, {.rounds = rounds});
      ASSERT_TRUE(built.has_value()) << built.error().message();
    }
  }
  testing::TestServerOptions Options(std::string token) {
    testing::TestServerOptions options;
    options.manager.model_root = root_;
    options.admin_token = std::move(token);
    return options;
  }

  ScratchDir scratch_;
  fs::path root_;
};

TEST_F(RepositoryServiceTest, DisabledWithoutAdminToken) {
  TestServer server({*ParseModelSource("flights-delay:1")}, Options(""));
  ASSERT_TRUE(server.WaitLoaded());
  for (std::string_view target :
       {"/v2/repository/index", "/v2/repository/models/flights-delay/load",
        "/v2/repository/models/flights-delay/unload"}) {
    ExpectError(server.Send("POST", target, "", Bearer(kToken)), 403, "--admin-token-file");
  }
  EXPECT_EQ(server.Send("GET", "/v2/models/flights-delay/ready").status, 200);
}

TEST_F(RepositoryServiceTest, MissingOrWrongTokenIs401) {
  TestServer server({*ParseModelSource("flights-delay:1")}, Options(std::string(kToken)));
  ASSERT_TRUE(server.WaitLoaded());
  ExpectError(server.Send("POST", "/v2/repository/index"), 401, "Authorization: Bearer");
  ExpectError(server.Send("POST", "/v2/repository/index", "", Bearer("wrong")), 401,
              "does not match");
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load", "",
                          {{"Authorization", std::string(kToken)}}),
              401, "Authorization: Bearer");
}

TEST_F(RepositoryServiceTest, LoadInferIndexUnload) {
  TestServer server({*ParseModelSource("flights-delay:1")}, Options(std::string(kToken)));
  ASSERT_TRUE(server.WaitLoaded());
  const http::HeaderList auth = Bearer(kToken);

  // Index before: version 1 ready, version 2 on disk only.
  http::Response index = server.Send("POST", "/v2/repository/index", "", auth);
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_EQ(Json::parse(index.body),
            Json::parse(R"([{"name": "flights-delay", "version": "1", "state": "READY"},
                            {"name": "flights-delay", "version": "2", "state": "UNAVAILABLE",
                             "reason": "not loaded"}])"));
  http::Response ready_only =
      server.Send("POST", "/v2/repository/index", R"({"ready": true})", auth);
  EXPECT_EQ(Json::parse(ready_only.body).size(), 1u);

  // Load version 2: it becomes primary.
  http::Response load = server.Send("POST", "/v2/repository/models/flights-delay/load",
                                    R"({"parameters": {"version": "2"}})", auth);
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(Json::parse(load.body).at("version"), "2");
  http::Response metadata = server.Send("GET", "/v2/models/flights-delay");
  EXPECT_EQ(Json::parse(metadata.body).at("versions"), Json::array({"2"}));
  http::Response infer = server.Send(
      "POST", "/v2/models/flights-delay/infer",
      R"({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [500, 1, 13, 2]}]})");
  ASSERT_EQ(infer.status, 200) << infer.body;
  EXPECT_EQ(Json::parse(infer.body).at("model_version"), "2");

  // Bad loads answer 400 or 404 and keep version 2.
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load",
                          R"({"parameters": {"path": "../../etc"}})", auth),
              400, "inside --model-root");
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load",
                          R"({"parameters": {"version": 2}})", auth),
              400, "parameters.version");
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load", "[1]", auth), 400,
              "request body");
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load",
                          R"({"parameters": {"version": "7"}})", auth),
              404, "version 7");
  EXPECT_EQ(server.Send("GET", "/v2/models/flights-delay/ready").status, 200);

  // Unload: one version must not be the primary; the whole model may go.
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/unload",
                          R"({"parameters": {"version": "2"}})", auth),
              409, "primary version");
  ASSERT_EQ(server.Send("POST", "/v2/repository/models/flights-delay/unload", "", auth).status,
            200);
  ExpectError(server.Send("GET", "/v2/models/flights-delay"), 404, "not found");
  EXPECT_EQ(server.Send("GET", "/v2/health/ready").status, 503);
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/unload", "", auth), 404,
              "is not loaded");

  // Load it back by name: the latest version under --model-root.
  load = server.Send("POST", "/v2/repository/models/flights-delay/load", "", auth);
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(Json::parse(load.body).at("version"), "2");
  EXPECT_EQ(server.Send("GET", "/v2/health/ready").status, 200);
  EXPECT_THAT(Json::parse(server.Send("GET", "/v2").body).at("extensions").dump(),
              HasSubstr("model_repository"));
}

// A load of something that does not exist is a 404 and leaves nothing in the
// index. A package that fails its self-tests is listed with the reason until
// its model is unloaded.
TEST_F(RepositoryServiceTest, FailedLoadsInIndex) {
  ASSERT_TRUE(
      testing::BuildTestPackage(root_ / "flights-delay" / "3", {.wrong_self_test = true}).has_value());
  TestServer server({*ParseModelSource("flights-delay:1")}, Options(std::string(kToken)));
  ASSERT_TRUE(server.WaitLoaded());
  const http::HeaderList auth = Bearer(kToken);
  auto index = [&] {
    http::Response response = server.Send("POST", "/v2/repository/index", "", auth);
    EXPECT_EQ(response.status, 200) << response.body;
    return Json::parse(response.body);
  };
  const Json before = index();

  ExpectError(server.Send("POST", "/v2/repository/models/nope/load", "", auth), 404,
              "model nope version latest: not found under --model-root");
  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load",
                          R"({"parameters": {"version": "9"}})", auth),
              404, "version 9");
  EXPECT_EQ(index(), before);

  ExpectError(server.Send("POST", "/v2/repository/models/flights-delay/load",
                          R"({"parameters": {"version": "3"}})", auth),
              400, "self-test");
  const Json after_failure = index();
  ASSERT_EQ(after_failure.size(), before.size());
  EXPECT_THAT(after_failure.dump(), HasSubstr(R"("state":"UNAVAILABLE","version":"3")"));
  EXPECT_THAT(after_failure.dump(), HasSubstr("self-test"));

  // Unloading the model drops the failure: version 3 is listed as a directory not loaded.
  ASSERT_EQ(server.Send("POST", "/v2/repository/models/flights-delay/unload", "", auth).status,
            200);
  EXPECT_EQ(index(), Json::parse(R"([
      {"name": "flights-delay", "version": "1", "state": "UNAVAILABLE", "reason": "not loaded"},
      {"name": "flights-delay", "version": "2", "state": "UNAVAILABLE", "reason": "not loaded"},
      {"name": "flights-delay", "version": "3", "state": "UNAVAILABLE", "reason": "not loaded"}])"));
}

TEST(AdminTokenTest, ReadsTrimmedToken) {
  ScratchDir scratch;
  ASSERT_TRUE(WriteFileAtomic(scratch.path() / "token", "  abc123\n").has_value());
  EXPECT_EQ(ReadAdminToken((scratch.path() / "token").string()).value(), "abc123");
  ASSERT_TRUE(WriteFileAtomic(scratch.path() / "empty", "\n").has_value());
  Result<std::string> empty = ReadAdminToken((scratch.path() / "empty").string());
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(empty.error().message(), HasSubstr("is empty"));
  Result<std::string> absent = ReadAdminToken((scratch.path() / "absent").string());
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tandem::serving
