#include "cli/api_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "common/crypto.h"
#include "common/file_util.h"

namespace tandem::cli {
namespace {

using ::testing::HasSubstr;

class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/api/v1/jobs/{id}", [this](http::Request& request) {
      last_authorization_ = request.Header("Authorization");
      if (request.PathParam("id") == "missing") {
        return http::Response::FromError(Error(ErrorCode::kNotFound, "job missing not found"));
      }
      return http::Response::Json(200, {{"JobId", request.PathParam("id")}});
    });
    router_.Add("POST", "/api/v1/jobs", [](http::Request&) {
      return http::Response::FromError(Error(ErrorCode::kUnauthenticated, "missing token"));
    });
    router_.Add("GET", "/api/v1/broken", [](http::Request&) {
      return http::Response::Text(502, "bad gateway");
    });
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, router_.AsHandler());
    auto port = server_->Start();
    ASSERT_TRUE(port);
    url_ = fmt::format("http://127.0.0.1:{}", *port);
  }

  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
  std::string last_authorization_;
};

TEST_F(ApiClientTest, SendsTokenAndParsesAnswer) {
  ApiClient client(url_ + "/", "secret");
  auto response = client.Call("GET", "/jobs/job-1");
  ASSERT_TRUE(response) << response.error().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body["JobId"], "job-1");
  EXPECT_EQ(last_authorization_, "Bearer secret");
}

TEST_F(ApiClientTest, ErrorAnswerKeepsCodeAndMessage) {
  ApiClient client(url_, "");
  auto response = client.Call("GET", "/jobs/missing");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(response.error().message(), "job missing not found");
  EXPECT_EQ(last_authorization_, "");
}

TEST_F(ApiClientTest, NonJsonErrorNamesStatus) {
  ApiClient client(url_, "");
  auto response = client.Call("GET", "/broken");
  ASSERT_FALSE(response);
  EXPECT_THAT(response.error().message(), HasSubstr("502"));
}

TEST_F(ApiClientTest, MissingTokenExplainsHowToGiveOne) {
  ApiClient without_token(url_, "");
  auto response = without_token.Call("POST", "/jobs", "{}");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_THAT(response.error().message(), HasSubstr("TANDEM_TOKEN"));

  ApiClient with_token(url_, "wrong");
  auto rejected = with_token.Call("POST", "/jobs", "{}");
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().message(), "missing token");
}

TEST_F(ApiClientTest, UnreachableServerSaysSo) {
  std::string url = url_;
  server_->Stop();
  ApiClient client(url, "");
  auto response = client.Call("GET", "/jobs/job-1");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(response.error().message(),
            fmt::format("cannot reach the control plane at {}: is `tandem server` running?", url));
}

TEST_F(ApiClientTest, TokenDefaultsToDataDirFile) {
  auto dir = std::filesystem::temp_directory_path() / ("tandem-client-test-" + RandomHex(6));
  ASSERT_TRUE(CreateDirectories(dir));
  ASSERT_TRUE(WriteFileAtomic(dir / "admin.token", "from-file\n"));
  ::unsetenv("TANDEM_TOKEN");
  auto client = ApiClient::FromOptions({.url = url_, .data_dir = dir.string()});
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_TRUE(client->Call("GET", "/jobs/job-1"));
  EXPECT_EQ(last_authorization_, "Bearer from-file");

  auto explicit_token = ApiClient::FromOptions({.url = url_, .token = "flag", .data_dir = dir.string()});
  ASSERT_TRUE(explicit_token);
  ASSERT_TRUE(explicit_token->Call("GET", "/jobs/job-1"));
  EXPECT_EQ(last_authorization_, "Bearer flag");
  std::filesystem::remove_all(dir);
}

TEST_F(ApiClientTest, MissingTokenFileIsNotFound) {
  ::unsetenv("TANDEM_TOKEN");
  auto client = ApiClient::FromOptions({.url = url_, .token_file = "/nonexistent/token"});
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code(), ErrorCode::kNotFound);
}

TEST(ErrorCodeFromNameTest, RoundTrips) {
  for (ErrorCode code : {ErrorCode::kInvalidArgument, ErrorCode::kNotFound,
                         ErrorCode::kUnauthenticated, ErrorCode::kAborted}) {
    EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(code)), code);
  }
  EXPECT_EQ(ErrorCodeFromName("no_such_code"), ErrorCode::kInternal);
}

TEST(RunClientCommandTest, ErrorExitsOne) {
  EXPECT_EQ(RunClientCommand([]() -> Result<int> { return 0; }), 0);
  EXPECT_EQ(RunClientCommand([]() -> Result<int> { return 3; }), 3);
  testing::internal::CaptureStderr();
  int code = RunClientCommand([]() -> Result<int> { return InvalidArgument("bad input"); });
  EXPECT_EQ(code, 1);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "error: bad input\n");
}

}  // namespace
}  // namespace tandem::cli
