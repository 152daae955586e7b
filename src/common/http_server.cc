// HTTP/1.1 server on Boost.Beast.
//
// Threading: one io_context per I/O thread, each run by exactly that thread,
// so a connection's handlers never need a strand or a lock. Every io_context
// has its own acceptor on a dup() of one listening socket. Whichever thread is
// free accepts the next connection, and it serves that connection to the end.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstring>
#include <iterator>
#include <limits>
#include <mutex>
#include <thread>

#include "common/http.h"

namespace tandem::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using ErrorCodeT = boost::system::error_code;

constexpr uint32_t kHeaderLimitBytes = 16 * 1024;
// After an error response that closes the connection, unread request bytes are
// read and dropped (up to this many, for at most kLingerTime) so that the
// client receives the response instead of a TCP reset.
constexpr uint64_t kMaxLingerBytes = 64 * 1024 * 1024;
constexpr std::chrono::seconds kLingerTime{5};
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

bool IsQuietDisconnect(const ErrorCodeT& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::operation_aborted || ec == beast::error::timeout ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor;
}

// True for errors of Beast's HTTP parser, that is malformed requests.
bool IsParseError(const ErrorCodeT& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

Response ErrorResponse(int status, std::string message, std::string_view code) {
  return Response::Json(status, {{"error", std::move(message)}, {"code", code}});
}

std::string_view ToStd(beast::string_view text) { return {text.data(), text.size()}; }

// Server state shared with every session. Sessions keep a reference, which is
// safe because Stop() destroys the io_contexts, and with them every session,
// before the server goes away.
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

 private:
  ServerOptions options_;
  Handler handler_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> connections_{0};
};

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler) : state_(std::move(options), std::move(handler)) {}

  Result<uint16_t> Start();
  void BeginDrain();
  void Stop();
  int64_t in_flight() const { return state_.in_flight(); }
  int64_t connections_accepted() const { return state_.connections_accepted(); }

 private:
  Result<tcp::endpoint> ResolveListenAddress() const;
  void Accept(size_t index);
  void RunThread(size_t index);

  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

  ServerState state_;
  const ServerOptions& options_ = state_.options();

  std::mutex lifecycle_mutex_;  // guards the members below
  bool started_ = false;
  bool stopped_ = false;
  int listen_fd_ = -1;  // owned by acceptors_[0]
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<WorkGuard> work_guards_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<std::thread> threads_;
};

namespace {

// One client connection, alive while a pending asynchronous operation owns a
// shared_ptr to it. Only its io_context's thread touches its members.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerState& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {}
  ~Session() {
    if (counted_) server_.AddInFlight(-1);
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimitBytes);
    // Judged in OnHeader, per path. Not boost::none, which Boost 1.74 compares
    // as smaller than every Content-Length.
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    stream_.expires_after(server_.options().idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

 private:
  void BeginRequest() {
    counted_ = true;
    server_.AddInFlight(1);
  }

  void EndRequest() {
    if (counted_) server_.AddInFlight(-1);
    counted_ = false;
  }

  void OnHeader(ErrorCodeT ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    BeginRequest();
    const auto& header = parser_->get();

    // Judge the declared body size before reading any of it.
    size_t limit = server_.options().max_body_bytes;
    if (server_.options().body_limit) {
      limit = server_.options().body_limit(ToStd(header.method_string()), ToStd(header.target()));
    }
    if (auto length = parser_->content_length(); length && *length > limit) {
      return FailAndClose(
          ErrorResponse(413,
                        fmt::format("request body of {} bytes exceeds the limit of {} bytes",
                                    *length, limit),
                        "payload_too_large"),
          *length);
    }
    if (parser_->is_done()) return Handle();

    body_limit_ = limit;
    parser_->body_limit(limit);
    auto expect = header.find(bhttp::field::expect);
    if (expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
      return asio::async_write(
          stream_, asio::buffer(kContinueResponse.data(), kContinueResponse.size()),
          [self = shared_from_this()](ErrorCodeT write_ec, size_t) {
            if (write_ec) return self->Close();
            self->ReadBody();
          });
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(server_.options().idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(ErrorCodeT ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    Handle();
  }

  void OnReadError(const ErrorCodeT& ec) {
    if (ec == bhttp::error::body_limit) {
      return FailAndClose(ErrorResponse(413,
                                        fmt::format("request body exceeds the limit of {} bytes",
                                                    body_limit_),
                                        "payload_too_large"),
                          kMaxLingerBytes);
    }
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return FailAndClose(
          ErrorResponse(431,
                        fmt::format("request header exceeds the limit of {} bytes",
                                    kHeaderLimitBytes),
                        "invalid_argument"),
          kMaxLingerBytes);
    }
    if (IsQuietDisconnect(ec) || !IsParseError(ec)) return Close();
    FailAndClose(ErrorResponse(400, fmt::format("malformed HTTP request: {}", ec.message()),
                               "invalid_argument"),
                 kMaxLingerBytes);
  }

  // Builds the Request, runs the handler and writes its response.
  void Handle() {
    bhttp::request<bhttp::string_body> message = parser_->release();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    std::string_view target = ToStd(message.target());
    std::optional<std::string> path = PercentDecode(target.substr(0, target.find_first_of("?#")));
    bool keep_alive = message.keep_alive() && !server_.draining();
    if (!path) {
      return Write(ErrorResponse(400, fmt::format("invalid percent-encoding in path {}", target),
                                 "invalid_argument"),
                   keep_alive, false);
    }
    request.path = std::move(*path);
    request.headers.reserve(std::distance(message.begin(), message.end()));
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    Response response = server_.Call(request);
    Write(std::move(response), keep_alive && !server_.draining(), request.method == "HEAD");
  }

  // Sends `response`; with `keep_alive`, reads the next request after it.
  void Write(Response response, bool keep_alive, bool head_request) {
    FillMessage(std::move(response), keep_alive, head_request);
    stream_.expires_after(server_.options().idle_timeout);
    asio::async_write(stream_, ResponseBuffers(),
                      [self = shared_from_this(), keep_alive](ErrorCodeT ec, size_t) {
                        self->EndRequest();
                        if (ec || !keep_alive) return self->Close();
                        self->ReadHeader();
                      });
  }

  // Sends `response` with "Connection: close", then reads and drops up to
  // `unread_bytes` of the request before closing.
  void FailAndClose(Response response, uint64_t unread_bytes) {
    FillMessage(std::move(response), false, false);
    stream_.expires_after(kLingerTime);
    asio::async_write(stream_, ResponseBuffers(),
                      [self = shared_from_this(), unread_bytes](ErrorCodeT ec, size_t) {
                        self->EndRequest();
                        if (ec) return self->Close();
                        ErrorCodeT ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        self->Linger(std::min(unread_bytes, kMaxLingerBytes));
                      });
  }

  void Linger(uint64_t remaining) {
    if (remaining == 0) return Close();
    linger_buffer_.resize(64 * 1024);
    stream_.async_read_some(
        asio::buffer(linger_buffer_.data(), std::min<uint64_t>(remaining, linger_buffer_.size())),
        [self = shared_from_this(), remaining](ErrorCodeT ec, size_t bytes) {
          if (ec) return self->Close();
          self->Linger(remaining - std::min<uint64_t>(remaining, bytes));
        });
  }

  // Writes the status line and headers of `response` into response_head_ and
  // moves its body into response_body_. Both go out in one gathered write.
  // Beast's message serializer, used before, cost about 9,000 more
  // instructions per response (callgrind, bench/serving/results-2026-12-04.md).
  void FillMessage(Response response, bool keep_alive, bool head_request) {
    response_head_.clear();
    response_body_.clear();
    int status = response.status;
    if (status < 100 || status > 599) {
      spdlog::error("http handler returned an invalid status status={}", status);
      response = ErrorResponse(500, "internal error: invalid HTTP status", "internal");
      status = 500;
    }
    auto out = std::back_inserter(response_head_);
    const bhttp::status code = bhttp::int_to_status(static_cast<unsigned>(status));
    fmt::format_to(out, "HTTP/1.1 {} {}\r\n", status, ToStd(bhttp::obsolete_reason(code)));
    if (!response.content_type.empty()) AppendHeader("Content-Type", response.content_type);
    for (const auto& [name, value] : response.headers) AppendHeader(name, value);
    if (!keep_alive) AppendHeader("Connection", "close");
    // Content-Length is the size of the body a GET would get, also for HEAD.
    bool bodiless_status = status < 200 || status == 204;
    if (!bodiless_status) fmt::format_to(out, "Content-Length: {}\r\n", response.body.size());
    response_head_.append("\r\n");
    if (!head_request && !bodiless_status) response_body_ = std::move(response.body);
  }

  void AppendHeader(std::string_view name, std::string_view value) {
    response_head_.append(name).append(": ").append(value).append("\r\n");
  }

  std::array<asio::const_buffer, 2> ResponseBuffers() const {
    return {asio::buffer(response_head_), asio::buffer(response_body_)};
  }

  void Close() {
    ErrorCodeT ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  ServerState& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string response_head_;  // status line and headers of the response being written
  std::string response_body_;  // its body
  std::vector<char> linger_buffer_;
  size_t body_limit_ = 0;
  bool counted_ = false;  // this session counts one request in flight
};

}  // namespace

Response ServerState::Call(Request& request) const {
  try {
    return handler_(request);
  } catch (const std::exception& e) {
    spdlog::error("http handler failed with an exception method={} path={} error={}",
                  request.method, request.path, e.what());
  } catch (...) {
    spdlog::error("http handler failed with an unknown exception method={} path={}",
                  request.method, request.path);
  }
  return ErrorResponse(500, "internal error while handling the request", "internal");
}

Result<tcp::endpoint> Server::Impl::ResolveListenAddress() const {
  ErrorCodeT ec;
  asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (!ec) return tcp::endpoint(address, options_.port);
  asio::io_context context;
  tcp::resolver resolver(context);
  auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                  tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return InvalidArgument(fmt::format("cannot resolve listen host \"{}\": {}", options_.host,
                                       ec ? ec.message() : "no addresses"));
  }
  return results.begin()->endpoint();
}

Result<uint16_t> Server::Impl::Start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_) return FailedPrecondition("http server was already started");
  TANDEM_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveListenAddress());

  // Step 1: bind and listen on the first thread's io_context.
  size_t thread_count = static_cast<size_t>(std::max(1, options_.threads));
  for (size_t i = 0; i < thread_count; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
  auto listener = std::make_unique<tcp::acceptor>(*contexts_[0]);
  ErrorCodeT ec;
  listener->open(endpoint.protocol(), ec);
  if (!ec) listener->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) listener->bind(endpoint, ec);
  if (!ec) listener->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    listener.reset();  // before its io_context
    contexts_.clear();
    return Unavailable(fmt::format("cannot listen on {}:{}: {}", options_.host, options_.port,
                                   ec.message()));
  }
  uint16_t port = listener->local_endpoint().port();
  listen_fd_ = listener->native_handle();
  acceptors_.push_back(std::move(listener));

  // Step 2: give every other thread an acceptor on a duplicate descriptor.
  for (size_t i = 1; i < thread_count; ++i) {
    int fd = ::dup(listen_fd_);
    if (fd < 0) {
      int dup_errno = errno;
      acceptors_.clear();
      contexts_.clear();
      return Internal(fmt::format("dup of the listening socket failed: {}",
                                  std::strerror(dup_errno)));
    }
    auto acceptor = std::make_unique<tcp::acceptor>(*contexts_[i]);
    acceptor->assign(endpoint.protocol(), fd);
    acceptors_.push_back(std::move(acceptor));
  }

  // Step 3: start accepting and run the threads.
  for (size_t i = 0; i < thread_count; ++i) {
    work_guards_.push_back(asio::make_work_guard(*contexts_[i]));
    Accept(i);
  }
  for (size_t i = 0; i < thread_count; ++i) {
    threads_.emplace_back([this, i] { RunThread(i); });
  }
  started_ = true;
  spdlog::info("http server listening host={} port={} threads={}", options_.host, port,
               thread_count);
  return port;
}

void Server::Impl::Accept(size_t index) {
  acceptors_[index]->async_accept(*contexts_[index], [this, index](ErrorCodeT ec,
                                                                   tcp::socket socket) {
    if (state_.draining() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Typically out of file descriptors: back off briefly instead of spinning.
      spdlog::warn("http accept failed error={}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(*contexts_[index],
                                                        std::chrono::milliseconds(50));
      timer->async_wait([this, index, timer](ErrorCodeT) { Accept(index); });
      return;
    }
    state_.CountConnection();
    ErrorCodeT ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(state_, std::move(socket))->ReadHeader();
    Accept(index);
  });
}

void Server::Impl::RunThread(size_t index) {
  while (true) {
    try {
      contexts_[index]->run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("http server thread caught an exception thread={} error={}", index,
                    e.what());
    }
  }
}

void Server::Impl::BeginDrain() {
  std::lock_guard lock(lifecycle_mutex_);
  if (!started_ || stopped_ || state_.draining()) return;
  state_.SetDraining();
  // Shutting down a listening socket stops it listening on Linux: new connects
  // are refused at once and every pending accept fails, on whatever thread.
  // The io_contexts may be busy in handlers, so nothing is posted to them.
  if (::shutdown(listen_fd_, SHUT_RD) != 0) {
    spdlog::warn("http drain could not stop listening errno={}", errno);
  }
  spdlog::info("http server draining in_flight={}", in_flight());
}

void Server::Impl::Stop() {
  std::lock_guard lock(lifecycle_mutex_);
  if (!started_ || stopped_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  state_.SetDraining();
  for (auto& context : contexts_) context->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  work_guards_.clear();
  acceptors_.clear();
  // Destroying an io_context destroys its pending handlers and so the sessions
  // they hold, which closes their sockets.
  contexts_.clear();
  spdlog::info("http server stopped");
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() { Stop(); }

Result<uint16_t> Server::Start() { return impl_->Start(); }

void Server::BeginDrain() { impl_->BeginDrain(); }

bool Server::WaitIdle(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (impl_->in_flight() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void Server::Stop() { impl_->Stop(); }

int64_t Server::in_flight() const { return impl_->in_flight(); }

int64_t Server::connections_accepted() const { return impl_->connections_accepted(); }

}  // namespace tandem::http
