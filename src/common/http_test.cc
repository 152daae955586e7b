#include "common/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "common/json_util.h"

namespace tandem::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A gate that handlers wait on until the test opens it; every wait is bounded.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  bool Wait(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

Json BodyJson(const Response& response) {
  Result<Json> parsed = ParseJson(response.body, "response body");
  EXPECT_TRUE(parsed.has_value()) << response.body;
  return parsed ? *parsed : Json();
}

// Connects a plain TCP socket to 127.0.0.1:port, sends `bytes`, and returns
// everything received until the server closes (bounded by 5 s and 1 MiB).
std::string RawExchange(uint16_t port, std::string_view bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
  std::string received;
  char block[4096];
  while (received.size() < (1 << 20)) {
    ssize_t count = ::recv(fd, block, sizeof(block), 0);
    if (count <= 0) break;
    received.append(block, size_t(count));
  }
  ::close(fd);
  return received;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/ping", [](Request&) { return Response::Json(200, {{"ok", true}}); });
    router_.Add("GET", "/api/v1/jobs/{id}", [](Request& r) {
      return Response::Json(200, {{"id", r.PathParam("id")}, {"path", r.path}});
    });
    router_.Add("POST", "/echo", [](Request& r) {
      return Response::Text(200, r.body, r.Header("content-type"));
    });
    router_.Add("POST", "/upload", [](Request& r) {
      return Response::Json(200, {{"bytes", r.body.size()}});
    });
    router_.Add("GET", "/throw", [](Request&) -> Response {
      throw std::runtime_error("handler bug");
    });
    router_.Add("GET", "/slow", [this](Request&) {
      slow_entered_.set_value();
      bool opened = gate_.Wait(seconds(10));
      return Response::Json(200, {{"opened", opened}});
    });
  }

  uint16_t StartServer(ServerOptions options = {}) {
    server_ = std::make_unique<Server>(std::move(options), router_.AsHandler());
    Result<uint16_t> port = server_->Start();
    EXPECT_TRUE(port.has_value()) << port.error().message();
    port_ = port.value_or(0);
    return port_;
  }

  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void TearDown() override {
    gate_.Open();
    if (server_) server_->Stop();
  }

  Router router_;
  Gate gate_;
  std::promise<void> slow_entered_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST(RouterTest, RoutesWithPathParams) {
  Router router;
  router.Add("GET", "/api/v1/jobs/{id}/events", [](Request& r) {
    return Response::Text(200, "events of " + r.PathParam("id"));
  });
  Request request{.method = "GET", .target = "/api/v1/jobs/job%201/events?x=1"};
  request.path = "/api/v1/jobs/job 1/events";
  Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "events of job 1");
  EXPECT_EQ(request.PathParam("id"), "job 1");
  EXPECT_EQ(request.PathParam("missing"), "");
}

TEST(RouterTest, DispatchReplacesPathParams) {
  Router router;
  router.Add("GET", "/models/{name}", [](Request& r) { return Response::Text(200, r.PathParam("name")); });
  router.Add("GET", "/models/{name}/versions/{version}", [](Request& r) {
    return Response::Text(200, r.PathParam("name") + "@" + r.PathParam("version"));
  });
  Request request{.method = "GET", .target = "/models/a/versions/2"};
  EXPECT_EQ(router.Dispatch(request).body, "a@2");
  request.target = "/models/b";
  EXPECT_EQ(router.Dispatch(request).body, "b");
  EXPECT_EQ(request.path_params.size(), 1u);
  EXPECT_EQ(request.FindPathParam("version"), nullptr);
  ASSERT_NE(request.FindPathParam("name"), nullptr);
  EXPECT_EQ(*request.FindPathParam("name"), "b");
}

TEST(RouterTest, EncodedSlashStaysInSegment) {
  Router router;
  router.Add("GET", "/models/{name}", [](Request& r) { return Response::Text(200, r.PathParam("name")); });
  Request request{.method = "GET", .target = "/models/a%2Fb", .path = "/models/a/b"};
  Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "a/b");
}

TEST(RouterTest, LiteralBeatsParam) {
  Router router;
  router.Add("GET", "/jobs/{id}", [](Request&) { return Response::Text(200, "param"); });
  router.Add("GET", "/jobs/latest", [](Request&) { return Response::Text(200, "literal"); });
  Request literal{.method = "GET", .path = "/jobs/latest"};
  EXPECT_EQ(router.Dispatch(literal).body, "literal");
  Request param{.method = "GET", .path = "/jobs/j1/"};
  EXPECT_EQ(router.Dispatch(param).body, "param");
}

TEST(RouterTest, UnknownPathIs404) {
  Router router;
  router.Add("GET", "/jobs/{id}", [](Request&) { return Response::Text(200, ""); });
  Request request{.method = "GET", .path = "/jobs"};
  Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 404);
  Json body = BodyJson(response);
  EXPECT_EQ(body["code"], "not_found");
  EXPECT_EQ(body["error"], "no route for GET /jobs");
  Request empty_segment{.method = "GET", .path = "/jobs//"};
  EXPECT_EQ(router.Dispatch(empty_segment).status, 404);
}

TEST(RouterTest, WrongMethodIs405) {
  Router router;
  router.Add("GET", "/jobs/{id}", [](Request&) { return Response::Text(200, ""); });
  router.Add("DELETE", "/jobs/{id}", [](Request&) { return Response::Text(200, ""); });
  Request request{.method = "POST", .path = "/jobs/j1"};
  Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.Header("allow"), "DELETE, GET");
  EXPECT_EQ(BodyJson(response)["code"], "method_not_allowed");
}

TEST(RequestTest, QueryDecoding) {
  Request request{.target = "/x?name=hello%20world&plus=a+b&flag&empty=&bad=%zz#frag"};
  EXPECT_EQ(request.Query("name"), "hello world");
  EXPECT_EQ(request.Query("plus"), "a b");
  EXPECT_EQ(request.Query("flag"), "");
  EXPECT_EQ(request.Query("empty"), "");
  EXPECT_EQ(request.Query("bad"), "%zz");
  EXPECT_EQ(request.Query("missing"), std::nullopt);
  Request no_query{.target = "/x"};
  EXPECT_EQ(no_query.Query("name"), std::nullopt);
}

TEST(RequestTest, HeaderIsCaseInsensitive) {
  Request request{.headers = {{"Content-Type", "text/csv"}}};
  EXPECT_EQ(request.Header("content-type"), "text/csv");
  EXPECT_EQ(request.Header("accept"), "");
}

TEST(ResponseTest, FromErrorMapsCode) {
  Response response = Response::FromError(Error(ErrorCode::kNotFound, "job j1 not found"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  Json body = BodyJson(response);
  EXPECT_EQ(body["error"], "job j1 not found");
  EXPECT_EQ(body["code"], "not_found");
}

TEST(TargetPathTest, EndsAtQueryOrFragment) {
  EXPECT_EQ(TargetPath("/a/b?x=1#f"), "/a/b");
  EXPECT_EQ(TargetPath("/a/b#f?x"), "/a/b");
  EXPECT_EQ(TargetPath("/a%3Fb"), "/a%3Fb");
  EXPECT_EQ(TargetPath("?x"), "");
  EXPECT_EQ(TargetPath(""), "");
}

TEST(PercentTest, EncodeDecodeRoundTrip) {
  std::string text = "a b/c?d=e&f%~";
  EXPECT_EQ(PercentEncode(text), "a%20b%2Fc%3Fd%3De%26f%25~");
  EXPECT_EQ(PercentDecode(PercentEncode(text)), text);
  EXPECT_EQ(PercentDecode("%4"), std::nullopt);
  EXPECT_EQ(PercentDecode("%g0"), std::nullopt);
}

TEST_F(HttpServerTest, ServesRoutesOverTcp) {
  StartServer();
  Client client(BaseUrl());
  Result<Response> response = client.Send("GET", "/api/v1/jobs/j%201?verbose=1");
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(response->body.size()));
  Json body = BodyJson(*response);
  EXPECT_EQ(body["id"], "j 1");
  EXPECT_EQ(body["path"], "/api/v1/jobs/j 1");

  Result<Response> missing = client.Send("GET", "/nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
  Result<Response> wrong_method = client.Send("DELETE", "/ping");
  ASSERT_TRUE(wrong_method.has_value());
  EXPECT_EQ(wrong_method->status, 405);
}

TEST_F(HttpServerTest, PostBodyAndContentType) {
  StartServer();
  Client client(BaseUrl());
  Result<Response> response =
      client.Send("POST", "/echo", "a,b\n1,2\n", {{"Content-Type", "text/csv"}});
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->body, "a,b\n1,2\n");
  EXPECT_EQ(response->content_type, "text/csv");
  Result<Response> json = client.Send("POST", "/echo", "{}");
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ(json->content_type, "application/json");
}

TEST_F(HttpServerTest, ClientReusesConnection) {
  StartServer();
  Client client(BaseUrl());
  for (int i = 0; i < 20; ++i) {
    Result<Response> response = client.Send("GET", "/ping");
    ASSERT_TRUE(response.has_value()) << response.error().message();
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(server_->connections_accepted(), 1);
}

TEST_F(HttpServerTest, ClientReconnectsAfterServerClosed) {
  uint16_t port = StartServer();
  Client client(BaseUrl());
  ASSERT_TRUE(client.Send("GET", "/ping").has_value());
  server_->Stop();
  server_ = std::make_unique<Server>(ServerOptions{.port = port}, router_.AsHandler());
  Result<uint16_t> restarted = server_->Start();
  ASSERT_TRUE(restarted.has_value()) << restarted.error().message();
  Result<Response> response = client.Send("GET", "/ping");
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, OversizedBodyIs413) {
  StartServer({.max_body_bytes = 1000});
  Client client(BaseUrl());
  Result<Response> response = client.Send("POST", "/echo", std::string(5000, 'x'));
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->status, 413);
  Json body = BodyJson(*response);
  EXPECT_EQ(body["code"], "payload_too_large");
  EXPECT_EQ(body["error"], "request body of 5000 bytes exceeds the limit of 1000 bytes");

  // The connection was closed; the client reconnects for the next request.
  Result<Response> next = client.Send("POST", "/echo", std::string(1000, 'x'));
  ASSERT_TRUE(next.has_value()) << next.error().message();
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, LargeOversizedBodyStill413) {
  StartServer({.max_body_bytes = 1024});
  Result<Response> response = Fetch("POST", BaseUrl() + "/echo", std::string(8 << 20, 'x'));
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->status, 413);
}

TEST_F(HttpServerTest, BodyLimitOverridePerPath) {
  ServerOptions options{.max_body_bytes = 100};
  options.body_limit = [](std::string_view method, std::string_view path) -> size_t {
    return method == "POST" && path == "/upload" ? 10000 : 100;
  };
  StartServer(std::move(options));
  Client client(BaseUrl());
  Result<Response> upload = client.Send("POST", "/upload", std::string(5000, 'x'));
  ASSERT_TRUE(upload.has_value());
  EXPECT_EQ(upload->status, 200);
  EXPECT_EQ(BodyJson(*upload)["bytes"], 5000);
  Result<Response> echo = client.Send("POST", "/echo", std::string(5000, 'x'));
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->status, 413);
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitIs413) {
  uint16_t port = StartServer({.max_body_bytes = 10});
  std::string reply = RawExchange(port,
                                  "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n14\r\n01234567890123456789\r\n0\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413")) << reply;
  EXPECT_NE(reply.find("exceeds the limit of 10 bytes"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, GarbageBytesGet400) {
  uint16_t port = StartServer();
  std::string reply = RawExchange(port, "\x01\x02 not http at all\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
  EXPECT_NE(reply.find("Content-Length:"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\"code\":\"invalid_argument\""), std::string::npos) << reply;
  EXPECT_NE(reply.find("malformed HTTP request"), std::string::npos) << reply;

  // The server still serves others.
  Result<Response> response = Fetch("GET", BaseUrl() + "/ping");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, ExpectContinueGetsBody) {
  uint16_t port = StartServer();
  std::string reply = RawExchange(port,
                                  "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                  "Content-Length: 2\r\nConnection: close\r\n\r\nhi");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200")) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\nhi")) << reply;
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  StartServer();
  Client client(BaseUrl());
  Result<Response> response = client.Send("GET", "/throw");
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(BodyJson(*response)["code"], "internal");
  Result<Response> next = client.Send("GET", "/ping");
  ASSERT_TRUE(next.has_value()) << next.error().message();
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, PortTakenIsUnavailable) {
  uint16_t port = StartServer();
  Server second(ServerOptions{.port = port}, router_.AsHandler());
  Result<uint16_t> result = second.Start();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message().find(std::to_string(port)), std::string::npos)
      << result.error().message();
}

TEST_F(HttpServerTest, ClosedPortIsUnavailable) {
  uint16_t port = StartServer();
  server_->Stop();
  Client client(BaseUrl());
  Result<Response> response = client.Send("GET", "/ping");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(response.error().message(),
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_F(HttpServerTest, SlowHandlerIsDeadlineExceeded) {
  StartServer();
  Client client(BaseUrl());
  Result<Response> response = client.Send("GET", "/slow", "", {}, milliseconds(100));
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_NE(response.error().message().find("/slow"), std::string::npos)
      << response.error().message();
  gate_.Open();

  // The same client recovers on a fresh connection.
  Result<Response> next = client.Send("GET", "/ping");
  ASSERT_TRUE(next.has_value()) << next.error().message();
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, DrainFinishesInFlightAndRefusesNew) {
  StartServer();
  std::future<void> entered = slow_entered_.get_future();
  std::future<Result<Response>> slow =
      std::async(std::launch::async, [this] { return Fetch("GET", BaseUrl() + "/slow"); });
  ASSERT_EQ(entered.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(server_->in_flight(), 1);

  server_->BeginDrain();
  Result<Response> refused = Fetch("GET", BaseUrl() + "/ping", "", {}, seconds(5));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(server_->WaitIdle(milliseconds(0)));

  gate_.Open();
  ASSERT_EQ(slow.wait_for(seconds(10)), std::future_status::ready);
  Result<Response> finished = slow.get();
  ASSERT_TRUE(finished.has_value()) << finished.error().message();
  EXPECT_EQ(finished->status, 200);
  EXPECT_EQ(finished->Header("Connection"), "close");
  EXPECT_TRUE(server_->WaitIdle(seconds(10)));
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(HttpServerTest, StopIsIdempotent) {
  StartServer();
  server_->Stop();
  server_->Stop();
  Server never_started({}, router_.AsHandler());
  never_started.Stop();
}

TEST_F(HttpServerTest, ParallelClients) {
  StartServer({.threads = 2});
  std::vector<std::future<int>> workers;
  for (int w = 0; w < 4; ++w) {
    workers.push_back(std::async(std::launch::async, [this] {
      Client client(BaseUrl());
      int ok = 0;
      for (int i = 0; i < 200; ++i) {
        Result<Response> response = client.Send("GET", "/api/v1/jobs/x");
        if (response && response->status == 200) ++ok;
      }
      return ok;
    }));
  }
  for (auto& worker : workers) EXPECT_EQ(worker.get(), 200);
}

TEST(ClientTest, MalformedUrlIsInvalidArgument) {
  for (std::string_view url : {"https://x:1", "127.0.0.1:80", "http://", "http://host:abc",
                               "http://host:70000", "http://[::1"}) {
    Result<Response> response = Fetch("GET", url);
    ASSERT_FALSE(response.has_value()) << url;
    EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument) << url;
    EXPECT_NE(response.error().message().find(url), std::string::npos)
        << response.error().message();
  }
  Client client("ftp://x");
  Result<Response> response = client.Send("GET", "/");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::http
