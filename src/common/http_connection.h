// One server-side HTTP/1.1 connection on a non-blocking socket, driven by the
// epoll loop of one I/O thread (http_server.cc). Internal to the server.
//
// The connection reads into its own buffer and feeds Boost.Beast's HTTP parser
// with put(), so no Asio stream, handler or timer is involved. Each response
// goes out with one sendmsg() of header and body; when the socket cannot take
// all of it, the rest waits for EPOLLOUT. Bytes of a pipelined request that
// arrived with the previous one are parsed as soon as that response is out.
//
// States (one table; every transition is in http_connection.cc):
//
//   state           waits for            deadline        next
//   kReadingHeader  request header       idle_timeout    kReadingBody, or kWriting
//                                                        (error response)
//   kReadingBody    rest of the body     idle_timeout    kWriting (handler's response,
//                                                        100 Continue or error response)
//   kWriting        EPOLLOUT             idle_timeout    after_write_: kReadingHeader
//                                                        (keep-alive), kReadingBody (after
//                                                        100 Continue), kLingering or closed
//   kLingering      unread request bytes linger time     closed
//
// Every method runs on the owning I/O thread only, so nothing here is locked.
#pragma once

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/http.h"
#include "common/http_request_parser.h"

namespace tandem::http::internal {

using Clock = std::chrono::steady_clock;

// Server state that every connection reads: the options, the handler, the
// drain flag and the counters behind Server::in_flight() and
// Server::connections_accepted().
class ServerState {
 public:
  ServerState(ServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  const ServerOptions& options() const { return options_; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  void SetDraining() { draining_.store(true); }
  void AddInFlight(int64_t delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  void CountConnection() { connections_.fetch_add(1, std::memory_order_relaxed); }
  int64_t connections_accepted() const { return connections_.load(std::memory_order_relaxed); }

  // Runs the handler; an exception becomes a 500 response and an ERROR log line.
  Response Call(Request& request) const;

  // Reports an error response sent without the handler to options().on_rejected.
  void Rejected(const Request& request, int status) const {
    if (options_.on_rejected) options_.on_rejected(request, status);
  }

 private:
  ServerOptions options_;
  Handler handler_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> connections_{0};
};

class Connection {
 public:
  // Takes ownership of the connected socket `fd`, which the caller has added
  // to `epoll_fd` for EPOLLIN with this connection as its data pointer.
  Connection(ServerState& server, int fd, int epoll_fd, Clock::time_point now);
  // Closes the socket if it is still open and stops counting its request in flight.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Handles the readiness `events` that epoll_wait reported at `now`.
  void OnEvent(uint32_t events, Clock::time_point now);

  // Closes the connection when the deadline of its current wait is before `now`.
  void CloseIfExpired(Clock::time_point now);

  // Closes the socket at once, without a response. Idempotent.
  void Close();

  // True once the socket is closed; the owner then destroys the connection.
  bool closed() const { return fd_ < 0; }

 private:
  enum class State { kReadingHeader, kReadingBody, kWriting, kLingering };
  // Next step after a completed write.
  enum class AfterWrite { kReadHeader, kReadBody, kLinger, kClose };

  void BeginHeader();
  bool Receive();
  void ProcessInput();
  void StartBody();
  void HandleRequest();
  void OnParseError(const boost::system::error_code& ec);

  void Respond(Response response, bool keep_alive, bool head_request);
  void FailAndClose(Response response, uint64_t unread_bytes);
  void FillMessage(Response response, bool keep_alive, bool head_request);
  void AppendHeader(std::string_view name, std::string_view value);
  void StartWrite(AfterWrite after);
  bool Flush();
  void FinishWrite();
  void WatchWritable(bool writable);
  void DiscardInput();

  void BeginRequest();
  void EndRequest();

  ServerState& server_;
  int fd_;
  int epoll_fd_;
  State state_ = State::kReadingHeader;
  AfterWrite after_write_ = AfterWrite::kReadHeader;
  Clock::time_point now_;       // time of the epoll_wait return being handled
  Clock::time_point deadline_;  // of the current wait

  Request request_;  // reused by every request of the connection
  std::optional<RequestParser> parser_;
  std::unique_ptr<char[]> buffer_;  // received bytes not yet parsed: [begin_, end_)
  size_t begin_ = 0;
  size_t end_ = 0;

  std::string response_head_;  // status line and headers of the response being written
  std::string response_body_;  // its body
  size_t written_ = 0;         // bytes of head and body sent so far
  bool watching_writable_ = false;

  size_t body_limit_ = 0;
  uint64_t linger_remaining_ = 0;
  bool counted_ = false;  // this connection counts one request in flight
};

}  // namespace tandem::http::internal
