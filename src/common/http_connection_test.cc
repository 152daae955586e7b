// Transport tests of http::Server over raw sockets: pipelining, partial reads
// and writes, bad input, timeouts and shutdown. Routing and the Client are
// tested in http_test.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/http.h"

namespace tandem::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kLargeBodyBytes = 8 << 20;

// A blocking client socket with 5 s send and receive timeouts, so that no
// test waits forever on a server that misbehaves.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port, int receive_buffer_bytes = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd_, 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                   sizeof(receive_buffer_bytes));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  }
  ~RawSocket() { ::close(fd_); }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(size_t(sent));
    }
    return true;
  }

  // Returns up to `max_bytes` from one recv; "" at end of stream or timeout.
  std::string ReceiveSome(size_t max_bytes = 64 * 1024) {
    std::string block(max_bytes, '\0');
    ssize_t count = ::recv(fd_, block.data(), block.size(), 0);
    block.resize(count > 0 ? size_t(count) : 0);
    return block;
  }

  // Returns everything received until the server closes (bounded by the
  // receive timeout per recv and by 64 MiB).
  std::string ReceiveAll() {
    std::string received;
    while (received.size() < (64u << 20)) {
      std::string block = ReceiveSome();
      if (block.empty()) break;
      received += block;
    }
    return received;
  }

  // Returns bytes until `received` ends with one complete response whose
  // Content-Length is known; "" on end of stream or timeout first.
  std::string ReceiveResponse() {
    std::string received;
    while (true) {
      size_t header_end = received.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        size_t length_at = received.find("Content-Length: ");
        EXPECT_NE(length_at, std::string::npos) << received;
        if (length_at == std::string::npos) return "";
        size_t length = std::stoul(received.substr(length_at + 16));
        if (received.size() >= header_end + 4 + length) return received;
      }
      std::string block = ReceiveSome();
      if (block.empty()) return "";
      received += block;
    }
  }

 private:
  int fd_ = -1;
};

// Returns how often `needle` occurs in `text`.
size_t CountOf(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

class HttpConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/ping", [](Request&) { return Response::Text(200, "pong"); });
    router_.Add("POST", "/echo", [](Request& r) { return Response::Text(200, r.body); });
    router_.Add("GET", "/thread", [](Request&) {
      return Response::Text(200, std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id())));
    });
    // Describes what the request carried, for checking that nothing of an
    // earlier request on the same connection is left in it.
    router_.Add("POST", "/describe/{name}", [](Request& r) {
      return Response::Text(200, "path=" + r.path + " name=" + r.PathParam("name") +
                                     " marker=" + r.Header("X-Marker") + " headers=" +
                                     std::to_string(r.headers.size()) + " body=" + r.body);
    });
    router_.Add("GET", "/large", [](Request&) {
      std::string body(kLargeBodyBytes, 'x');
      for (size_t i = 0; i < body.size(); i += 4096) body[i] = char('a' + (i / 4096) % 26);
      return Response::Text(200, std::move(body));
    });
  }

  uint16_t StartServer(ServerOptions options = {}) {
    server_ = std::make_unique<Server>(std::move(options), router_.AsHandler());
    Result<uint16_t> port = server_->Start();
    EXPECT_TRUE(port.has_value()) << port.error().message();
    return port.value_or(0);
  }

  // Polls in_flight() until it is zero, for at most 5 s.
  bool WaitNoneInFlight() { return server_->WaitIdle(seconds(5)); }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  Router router_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpConnectionTest, PipelinedRequestsAnsweredInOrder) {
  uint16_t port = StartServer();
  RawSocket socket(port);
  ASSERT_TRUE(socket.Send(
      "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
      "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string replies = socket.ReceiveAll();
  EXPECT_EQ(CountOf(replies, "HTTP/1.1 200 OK\r\n"), 4u) << replies;
  size_t pong = replies.find("\r\n\r\npong");
  size_t first = replies.find("\r\n\r\nfirst");
  size_t second = replies.find("\r\n\r\nsecond");
  size_t last_pong = replies.rfind("\r\n\r\npong");
  ASSERT_NE(pong, std::string::npos) << replies;
  ASSERT_NE(first, std::string::npos) << replies;
  ASSERT_NE(second, std::string::npos) << replies;
  EXPECT_LT(pong, first);
  EXPECT_LT(first, second);
  EXPECT_LT(second, last_pong);
  EXPECT_TRUE(replies.ends_with("pong")) << replies;
  EXPECT_EQ(server_->connections_accepted(), 1);
}

// A connection reuses one Request for all of its requests: each one starts
// empty, also after a body larger than the buffer kept between requests.
TEST_F(HttpConnectionTest, EachRequestStartsEmpty) {
  uint16_t port = StartServer();
  RawSocket socket(port);
  const std::string large_body(100 * 1024, 'b');
  ASSERT_TRUE(socket.Send("POST /describe/first%20one?q=1 HTTP/1.1\r\nHost: x\r\n"
                          "X-Marker: set\r\nContent-Length: 5\r\n\r\nfirst"));
  std::string reply = socket.ReceiveResponse();
  EXPECT_TRUE(reply.ends_with("path=/describe/first one name=first one marker=set headers=3 "
                              "body=first"))
      << reply;

  ASSERT_TRUE(socket.Send("POST /describe/large HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                          std::to_string(large_body.size()) + "\r\n\r\n" + large_body));
  reply = socket.ReceiveResponse();
  EXPECT_TRUE(reply.ends_with("name=large marker= headers=2 body=" + large_body))
      << reply.substr(0, 200);

  ASSERT_TRUE(socket.Send("POST /describe/last HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 0\r\n\r\n"));
  reply = socket.ReceiveResponse();
  EXPECT_TRUE(reply.ends_with("path=/describe/last name=last marker= headers=2 body="))
      << reply;
  EXPECT_EQ(server_->connections_accepted(), 1);
}

TEST_F(HttpConnectionTest, RequestSplitIntoSingleBytes) {
  uint16_t port = StartServer();
  RawSocket socket(port);
  std::string request =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world";
  for (char byte : request) {
    ASSERT_TRUE(socket.Send(std::string_view(&byte, 1)));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::string reply = socket.ReceiveResponse();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\nhello world")) << reply;

  // The connection stays usable for the next request.
  ASSERT_TRUE(socket.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(socket.ReceiveResponse().ends_with("pong"));
}

TEST_F(HttpConnectionTest, SlowReaderGetsWholeResponse) {
  uint16_t port = StartServer();
  RawSocket socket(port, 16 * 1024);
  // A pipelined request behind the large response must wait for all of it.
  ASSERT_TRUE(socket.Send(
      "GET /large HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  // Let the server fill the socket buffers and wait for EPOLLOUT.
  std::this_thread::sleep_for(milliseconds(100));
  std::string received;
  while (received.size() < kLargeBodyBytes + 1024) {
    std::string block = socket.ReceiveSome(4096);
    if (block.empty()) break;
    received += block;
  }
  size_t header_end = received.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos);
  EXPECT_NE(received.find("Content-Length: " + std::to_string(kLargeBodyBytes)),
            std::string::npos);
  std::string body = received.substr(header_end + 4, kLargeBodyBytes);
  ASSERT_EQ(body.size(), kLargeBodyBytes);
  for (size_t i = 0; i < body.size(); i += 4096) {
    ASSERT_EQ(body[i], char('a' + (i / 4096) % 26)) << "at byte " << i;
  }
  std::string rest = received.substr(header_end + 4 + kLargeBodyBytes);
  EXPECT_TRUE(rest.starts_with("HTTP/1.1 200 OK\r\n")) << rest.substr(0, 200);
  EXPECT_TRUE(rest.ends_with("pong")) << rest.substr(0, 200);
}

TEST_F(HttpConnectionTest, ExpectContinueBeforeBody) {
  uint16_t port = StartServer();
  RawSocket socket(port);
  ASSERT_TRUE(socket.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  EXPECT_EQ(socket.ReceiveSome(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(socket.Send("body"));
  std::string reply = socket.ReceiveResponse();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\nbody")) << reply;
}

// Each case: bytes sent, start of the expected reply, text the reply contains.
struct BadInputCase {
  std::string name;
  std::string request;
  std::string status_line;
  std::string message;
};

TEST_F(HttpConnectionTest, BadInputGetsErrorThenClose) {
  uint16_t port = StartServer({.max_body_bytes = 100});
  std::vector<BadInputCase> cases = {
      {"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
       "malformed HTTP request"},
      {"bad version", "GET / HTTP/2.5\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
       "malformed HTTP request"},
      {"missing target", "GET HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400",
       "malformed HTTP request"},
      {"bad header line", "GET / HTTP/1.1\r\nHost x\r\n\r\n", "HTTP/1.1 400",
       "malformed HTTP request"},
      {"bad content length", "POST /echo HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
       "HTTP/1.1 400", "malformed HTTP request"},
      {"header too large",
       "GET / HTTP/1.1\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n", "HTTP/1.1 431",
       "request header exceeds the limit of 16384 bytes"},
      {"body over limit", "POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n",
       "HTTP/1.1 413", "request body of 101 bytes exceeds the limit of 100 bytes"},
      {"bad chunk size",
       "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
       "HTTP/1.1 400", "malformed HTTP request"},
      {"chunk without line end",
       "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX0\r\n\r\n",
       "HTTP/1.1 400", "malformed HTTP request"},
      {"chunks over limit",
       "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" +
           std::string(64, 'a') + "\r\n40\r\n" + std::string(64, 'b') + "\r\n0\r\n\r\n",
       "HTTP/1.1 413", "request body exceeds the limit of 100 bytes"},
      {"bad percent-encoding", "GET /a%zz HTTP/1.1\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 400", "invalid percent-encoding in path /a%zz"},
  };
  for (const BadInputCase& test : cases) {
    RawSocket socket(port);
    ASSERT_TRUE(socket.Send(test.request)) << test.name;
    // ReceiveAll returns only once the server closes the connection.
    std::string reply = socket.ReceiveAll();
    EXPECT_TRUE(reply.starts_with(test.status_line)) << test.name << ": " << reply;
    EXPECT_NE(reply.find(test.message), std::string::npos) << test.name << ": " << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << test.name;
  }
  EXPECT_TRUE(WaitNoneInFlight());
}

TEST_F(HttpConnectionTest, IdleConnectionTimesOut) {
  uint16_t port = StartServer({.idle_timeout = seconds(1)});
  RawSocket idle(port);
  RawSocket partial(port);
  ASSERT_TRUE(partial.Send("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  // Both connections are closed without a response, within the 5 s receive timeout.
  EXPECT_EQ(idle.ReceiveAll(), "");
  EXPECT_EQ(partial.ReceiveAll(), "");
  EXPECT_TRUE(WaitNoneInFlight());
}

TEST_F(HttpConnectionTest, DisconnectMidBodyEndsRequest) {
  uint16_t port = StartServer();
  {
    RawSocket socket(port);
    ASSERT_TRUE(socket.Send("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
  }
  EXPECT_TRUE(WaitNoneInFlight());
  RawSocket next(port);
  ASSERT_TRUE(next.Send("GET /ping HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(next.ReceiveResponse().ends_with("pong"));
}

TEST_F(HttpConnectionTest, StopClosesOpenConnections) {
  uint16_t port = StartServer();
  RawSocket socket(port);
  ASSERT_TRUE(socket.Send("GET /ping HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(socket.ReceiveResponse().ends_with("pong"));
  server_->Stop();
  EXPECT_EQ(socket.ReceiveAll(), "");
}

TEST_F(HttpConnectionTest, HttpOneZeroClosesAfterResponse) {
  uint16_t port = StartServer();
  RawSocket socket(port);
  ASSERT_TRUE(socket.Send("GET /ping HTTP/1.0\r\n\r\n"));
  std::string reply = socket.ReceiveAll();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
  EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("pong")) << reply;
}

TEST_F(HttpConnectionTest, ConnectionsSpreadOverThreads) {
  uint16_t port = StartServer({.threads = 2});
  std::vector<std::unique_ptr<RawSocket>> sockets;
  std::set<std::string> threads;
  for (int i = 0; i < 4; ++i) {
    sockets.push_back(std::make_unique<RawSocket>(port));
    ASSERT_TRUE(sockets.back()->Send("GET /thread HTTP/1.1\r\n\r\n"));
    std::string reply = sockets.back()->ReceiveResponse();
    ASSERT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
    threads.insert(reply.substr(reply.find("\r\n\r\n") + 4));
  }
  EXPECT_EQ(threads.size(), 2u);
}

TEST_F(HttpConnectionTest, PinnedThreadsRunOnOneCpu) {
  router_.Add("GET", "/cpus", [](Request&) {
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_EQ(::sched_getaffinity(0, sizeof(set), &set), 0);
    return Response::Text(200, std::to_string(CPU_COUNT(&set)));
  });
  uint16_t port = StartServer({.threads = 2, .pin_threads = true});
  for (int i = 0; i < 2; ++i) {
    RawSocket socket(port);
    ASSERT_TRUE(socket.Send("GET /cpus HTTP/1.1\r\n\r\n"));
    EXPECT_TRUE(socket.ReceiveResponse().ends_with("\r\n\r\n1"));
  }
}

TEST_F(HttpConnectionTest, HeadGetsLengthWithoutBody) {
  router_.Add("HEAD", "/ping", [](Request&) { return Response::Text(200, "pong"); });
  uint16_t port = StartServer();
  RawSocket socket(port);
  ASSERT_TRUE(socket.Send("HEAD /ping HTTP/1.1\r\nConnection: close\r\n\r\n"));
  std::string reply = socket.ReceiveAll();
  EXPECT_NE(reply.find("Content-Length: 4\r\n"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\n")) << reply;
}

}  // namespace
}  // namespace tandem::http
