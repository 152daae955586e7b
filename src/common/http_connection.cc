#include "common/http_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <limits>

namespace tandem::http::internal {
namespace {

// Holds a whole header up to kHeaderLimitBytes, so that the parser can judge
// the limit, plus room to read ahead. Bodies do not need to fit: the parser
// takes body bytes out of the buffer as they arrive.
constexpr size_t kReadBufferBytes = kHeaderLimitBytes + 4 * 1024;
// After an error response that closes the connection, unread request bytes are
// read and dropped (up to this many, for at most kLingerTime) so that the
// client receives the response instead of a TCP reset.
constexpr uint64_t kMaxLingerBytes = 64 * 1024 * 1024;
constexpr std::chrono::seconds kLingerTime{5};
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

Response ErrorResponse(int status, std::string message, std::string_view code) {
  return Response::Json(status, {{"error", std::move(message)}, {"code", code}});
}

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

Connection::Connection(ServerState& server, int fd, int epoll_fd, Clock::time_point now)
    : server_(server),
      fd_(fd),
      epoll_fd_(epoll_fd),
      now_(now),
      buffer_(std::make_unique_for_overwrite<char[]>(kReadBufferBytes)) {
  BeginHeader();
}

Connection::~Connection() {
  Close();
  EndRequest();
}

void Connection::OnEvent(uint32_t events, Clock::time_point now) {
  now_ = now;
  switch (state_) {
    case State::kReadingHeader:
    case State::kReadingBody:
      if (Receive()) ProcessInput();
      return;
    case State::kWriting:
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      if (!Flush()) return;
      WatchWritable(false);
      FinishWrite();
      ProcessInput();  // a pipelined request may be waiting in the buffer
      return;
    case State::kLingering:
      DiscardInput();
      return;
  }
}

void Connection::CloseIfExpired(Clock::time_point now) {
  if (!closed() && now >= deadline_) Close();
}

void Connection::BeginHeader() {
  ClearForReuse(request_);
  parser_.emplace(request_);
  state_ = State::kReadingHeader;
  deadline_ = now_ + server_.options().idle_timeout;
}

// Reads what the socket has into the buffer. Returns false when nothing
// arrived: the socket has no data yet (EAGAIN), or it was closed.
bool Connection::Receive() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0 && kReadBufferBytes - end_ < kReadBufferBytes / 2) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == kReadBufferBytes) return false;  // ProcessInput rejects a full buffer first

  ssize_t count = ::recv(fd_, buffer_.get() + end_, kReadBufferBytes - end_, 0);
  if (count > 0) {
    end_ += static_cast<size_t>(count);
    return true;
  }
  if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  // End of stream or a broken connection, also in the middle of a request.
  // No client is left to read an error response, so none is sent.
  Close();
  return false;
}

// Parses buffered bytes and serves every request they complete, until the
// buffer runs dry, a write has to wait or the connection closes.
void Connection::ProcessInput() {
  while (!closed() && (state_ == State::kReadingHeader || state_ == State::kReadingBody)) {
    if (state_ == State::kReadingHeader && parser_->is_header_done()) {
      StartBody();
      continue;
    }
    if (parser_->is_done()) {
      HandleRequest();
      continue;
    }
    if (begin_ == end_) return;

    ErrorCodeT ec;
    size_t used = parser_->put(boost::asio::const_buffer(buffer_.get() + begin_, end_ - begin_), ec);
    begin_ += used;
    if (ec == bhttp::error::need_more) {
      if (begin_ == 0 && end_ == kReadBufferBytes) {
        // Only a chunk header longer than the buffer gets here: a request
        // header that long fails with header_limit first.
        return OnParseError(bhttp::error::bad_chunk);
      }
      return;
    }
    if (ec) return OnParseError(ec);
    if (used == 0) return;
  }
}

// Judges the declared body size before reading any of it, then reads the body.
void Connection::StartBody() {
  BeginRequest();
  const Request& request = parser_->request();
  const ServerOptions& options = server_.options();
  size_t limit = options.max_body_bytes;
  if (options.body_limit) limit = options.body_limit(request.method, request.target);
  if (auto length = parser_->content_length(); length && *length > limit) {
    return FailAndClose(
        ErrorResponse(413,
                      fmt::format("request body of {} bytes exceeds the limit of {} bytes",
                                  *length, limit),
                      "payload_too_large"),
        *length);
  }

  state_ = State::kReadingBody;
  deadline_ = now_ + options.idle_timeout;
  if (parser_->is_done()) return;
  body_limit_ = limit;
  parser_->body_limit(limit);
  parser_->eager(true);
  if (parser_->expects_continue()) {
    response_head_.assign(kContinueResponse);
    response_body_.clear();
    StartWrite(AfterWrite::kReadBody);
  }
}

void Connection::OnParseError(const ErrorCodeT& ec) {
  if (ec == bhttp::error::body_limit) {
    return FailAndClose(ErrorResponse(413,
                                      fmt::format("request body exceeds the limit of {} bytes",
                                                  body_limit_),
                                      "payload_too_large"),
                        kMaxLingerBytes);
  }
  if (ec == bhttp::error::header_limit) {
    return FailAndClose(ErrorResponse(431,
                                      fmt::format("request header exceeds the limit of {} bytes",
                                                  kHeaderLimitBytes),
                                      "invalid_argument"),
                        kMaxLingerBytes);
  }
  FailAndClose(ErrorResponse(400, fmt::format("malformed HTTP request: {}", ec.message()),
                             "invalid_argument"),
               kMaxLingerBytes);
}

// Completes the Request, runs the handler and starts writing its response.
void Connection::HandleRequest() {
  Request& request = parser_->request();
  bool keep_alive = parser_->keep_alive() && !server_.draining();
  std::string_view target = request.target;
  std::string_view raw_path = TargetPath(target);
  if (raw_path.find('%') == std::string_view::npos) {
    request.path.assign(raw_path);  // Nothing to decode, so the string keeps its capacity.
  } else if (std::optional<std::string> path = PercentDecode(raw_path)) {
    request.path = std::move(*path);
  } else {
    server_.Rejected(request, 400);
    return Respond(ErrorResponse(400, fmt::format("invalid percent-encoding in path {}", target),
                                 "invalid_argument"),
                   keep_alive, false);
  }
  Response response = server_.Call(request);
  now_ = Clock::now();  // the handler may have taken a while
  Respond(std::move(response), keep_alive && !server_.draining(), request.method == "HEAD");
}

// Sends `response`; with `keep_alive`, reads the next request after it.
void Connection::Respond(Response response, bool keep_alive, bool head_request) {
  FillMessage(std::move(response), keep_alive, head_request);
  deadline_ = now_ + server_.options().idle_timeout;
  StartWrite(keep_alive ? AfterWrite::kReadHeader : AfterWrite::kClose);
}

// Sends `response` with "Connection: close", then reads and drops up to
// `unread_bytes` of the request before closing.
void Connection::FailAndClose(Response response, uint64_t unread_bytes) {
  server_.Rejected(request_, response.status);
  FillMessage(std::move(response), false, false);
  linger_remaining_ = std::min(unread_bytes, kMaxLingerBytes);
  deadline_ = now_ + kLingerTime;
  StartWrite(AfterWrite::kLinger);
}

// Writes the status line and headers of `response` into response_head_ and
// moves its body into response_body_. Both go out in one gathered write.
// Plain appends: fmt::format_to here cost about 2,000 instructions per
// response (callgrind of `tandem serve`), three times as much.
void Connection::FillMessage(Response response, bool keep_alive, bool head_request) {
  response_head_.clear();
  response_body_.clear();
  int status = response.status;
  if (status < 100 || status > 599) {
    spdlog::error("http handler returned an invalid status status={}", status);
    response = ErrorResponse(500, "internal error: invalid HTTP status", "internal");
    status = 500;
  }
  const char status_digits[3] = {char('0' + status / 100), char('0' + status / 10 % 10),
                                 char('0' + status % 10)};
  const bhttp::status code = bhttp::int_to_status(static_cast<unsigned>(status));
  response_head_.append("HTTP/1.1 ").append(status_digits, 3).append(" ");
  response_head_.append(ToStd(bhttp::obsolete_reason(code))).append("\r\n");
  if (!response.content_type.empty()) AppendHeader("Content-Type", response.content_type);
  for (const auto& [name, value] : response.headers) AppendHeader(name, value);
  if (!keep_alive) AppendHeader("Connection", "close");
  // Content-Length is the size of the body a GET would get, also for HEAD.
  bool bodiless_status = status < 200 || status == 204;
  if (!bodiless_status) {
    char length[24];
    auto [end, error] = std::to_chars(length, length + sizeof(length), response.body.size());
    AppendHeader("Content-Length", std::string_view(length, size_t(end - length)));
  }
  response_head_.append("\r\n");
  if (!head_request && !bodiless_status) response_body_ = std::move(response.body);
}

void Connection::AppendHeader(std::string_view name, std::string_view value) {
  response_head_.append(name).append(": ").append(value).append("\r\n");
}

// Sends response_head_ and response_body_, now or, for what the socket cannot
// take yet, when epoll reports EPOLLOUT.
void Connection::StartWrite(AfterWrite after) {
  state_ = State::kWriting;
  after_write_ = after;
  written_ = 0;
  if (Flush()) return FinishWrite();
  if (!closed()) WatchWritable(true);
}

// Sends as much of the pending response as the socket takes. Returns true
// when all of it is sent; false when the rest must wait or the send failed,
// which closes the connection.
bool Connection::Flush() {
  const size_t total = response_head_.size() + response_body_.size();
  while (written_ < total) {
    iovec parts[2];
    size_t count = 0;
    if (written_ < response_head_.size()) {
      parts[count++] = {response_head_.data() + written_, response_head_.size() - written_};
    }
    size_t body_offset = written_ > response_head_.size() ? written_ - response_head_.size() : 0;
    if (body_offset < response_body_.size()) {
      parts[count++] = {response_body_.data() + body_offset, response_body_.size() - body_offset};
    }
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = count;
    ssize_t sent = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (sent >= 0) {
      written_ += static_cast<size_t>(sent);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) Close();
    return false;
  }
  return true;
}

void Connection::FinishWrite() {
  switch (after_write_) {
    case AfterWrite::kReadHeader:
      EndRequest();
      return BeginHeader();
    case AfterWrite::kReadBody:
      state_ = State::kReadingBody;
      deadline_ = now_ + server_.options().idle_timeout;
      return;
    case AfterWrite::kLinger:
      EndRequest();
      ::shutdown(fd_, SHUT_WR);
      state_ = State::kLingering;
      begin_ = end_ = 0;
      if (linger_remaining_ == 0) Close();
      return;
    case AfterWrite::kClose:
      EndRequest();
      return Close();
  }
}

// Switches the epoll interest between EPOLLIN and EPOLLOUT. Level-triggered:
// a connection waits for one of them at a time.
void Connection::WatchWritable(bool writable) {
  if (watching_writable_ == writable) return;
  epoll_event event{};
  event.events = writable ? EPOLLOUT : EPOLLIN;
  event.data.ptr = this;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &event) != 0) {
    spdlog::warn("http connection epoll_ctl failed error={}", std::strerror(errno));
    return Close();
  }
  watching_writable_ = writable;
}

void Connection::DiscardInput() {
  ssize_t count = ::recv(fd_, buffer_.get(), kReadBufferBytes, 0);
  if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (count <= 0) return Close();
  linger_remaining_ -= std::min<uint64_t>(linger_remaining_, static_cast<uint64_t>(count));
  if (linger_remaining_ == 0) Close();
}

void Connection::BeginRequest() {
  if (counted_) return;
  counted_ = true;
  server_.AddInFlight(1);
}

void Connection::EndRequest() {
  if (counted_) server_.AddInFlight(-1);
  counted_ = false;
}

// Removes the socket from epoll before closing it: a child process that
// inherited the descriptor would otherwise keep it registered.
void Connection::Close() {
  if (fd_ < 0) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd_, nullptr);
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace tandem::http::internal
