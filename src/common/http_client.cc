// HTTP/1.1 client on Boost.Beast. Each Client owns a private io_context and
// runs it on the calling thread until the exchange completes or its deadline
// passes, so a call never leaves work behind on another thread.
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <charconv>

#include "common/http.h"

namespace tandem::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using ErrorCodeT = boost::system::error_code;

// NOTE: a response body larger than this fails the call with kResourceExhausted;
// large artifacts should be streamed by other means.
constexpr uint64_t kMaxResponseBodyBytes = uint64_t{1} << 30;

beast::string_view ToBeast(std::string_view text) { return {text.data(), text.size()}; }

struct ParsedUrl {
  std::string host;       // without brackets for IPv6
  std::string port;       // decimal
  std::string authority;  // "host:port" as written, for Host and messages
  std::string rest;       // path and query, may be empty
};

// Parses "http://host[:port][/rest]".
Result<ParsedUrl> ParseUrl(std::string_view url) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument(
        fmt::format("invalid URL \"{}\": {}; expected http://host:port/path", url, why));
  };
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size() || !beast::iequals(ToBeast(url.substr(0, kScheme.size())), ToBeast(kScheme))) {
    return invalid("only http:// is supported");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  ParsedUrl parsed;
  parsed.rest = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  parsed.authority = std::string(authority);

  std::string_view host = authority;
  std::string_view port = "80";
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after the IPv6 address");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return invalid("missing host");
  unsigned port_number = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (error != std::errc() || end != port.data() + port.size() || port_number == 0 ||
      port_number > 65535) {
    return invalid(fmt::format("invalid port \"{}\"", port));
  }
  parsed.host = std::string(host);
  parsed.port = std::string(port);
  return parsed;
}

bool HasHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (beast::iequals(header.first, ToBeast(name))) return true;
  }
  return false;
}

// True for errors meaning the server closed a kept-alive connection before
// sending any byte of a response, so the request may be sent again.
bool IsClosedByPeer(const ErrorCodeT& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

Response ToResponse(bhttp::response<bhttp::string_body>&& message) {
  Response response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = std::string(message[bhttp::field::content_type]);
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(message.body());
  return response;
}

}  // namespace

class Client::Impl {
 public:
  explicit Impl(std::string base_url) : base_url_(std::move(base_url)) {
    Result<ParsedUrl> parsed = ParseUrl(base_url_);
    if (!parsed) {
      url_error_ = parsed.error();
      return;
    }
    url_ = std::move(*parsed);
    while (!url_.rest.empty() && url_.rest.back() == '/') url_.rest.pop_back();
  }

  Result<Response> Send(std::string_view method, std::string_view target, std::string_view body,
                        const HeaderList& headers, std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;

  Status Connect(Clock::time_point deadline, std::chrono::milliseconds timeout);
  ErrorCodeT Exchange(bhttp::request<bhttp::string_body>& request,
                      bhttp::response_parser<bhttp::string_body>& parser,
                      Clock::time_point deadline);
  bool PeerHasClosed();
  void Disconnect();
  std::unexpected<Error> ExchangeError(const ErrorCodeT& ec, std::string_view method,
                                       std::string_view target,
                                       std::chrono::milliseconds timeout) const;

  std::string base_url_;
  std::optional<Error> url_error_;
  ParsedUrl url_;
  asio::io_context context_{1};
  std::optional<tcp::resolver::results_type> endpoints_;  // resolved once
  std::optional<beast::tcp_stream> stream_;               // set while connected
  beast::flat_buffer buffer_;
};

Status Client::Impl::Connect(Clock::time_point deadline, std::chrono::milliseconds timeout) {
  std::string where = fmt::format("cannot connect to {}", url_.authority);
  if (!endpoints_) {
    ErrorCodeT ec;
    tcp::resolver resolver(context_);
    auto results = resolver.resolve(url_.host, url_.port, ec);
    if (ec) return Unavailable(fmt::format("{}: {}", where, ec.message()));
    endpoints_ = std::move(results);
  }
  stream_.emplace(context_);
  stream_->expires_at(deadline);
  ErrorCodeT result;
  stream_->async_connect(*endpoints_,
                         [&result](ErrorCodeT ec, const tcp::endpoint&) { result = ec; });
  context_.restart();
  context_.run();
  if (!result) {
    ErrorCodeT ignored;
    stream_->socket().set_option(tcp::no_delay(true), ignored);
    buffer_.clear();
    return Ok();
  }
  stream_.reset();
  if (result == beast::error::timeout) {
    return DeadlineExceeded(fmt::format("{}: timed out after {} ms", where, timeout.count()));
  }
  return Unavailable(fmt::format("{}: {}", where, result.message()));
}

ErrorCodeT Client::Impl::Exchange(bhttp::request<bhttp::string_body>& request,
                                  bhttp::response_parser<bhttp::string_body>& parser,
                                  Clock::time_point deadline) {
  ErrorCodeT result;
  stream_->expires_at(deadline);
  bhttp::async_write(*stream_, request, [&](ErrorCodeT ec, size_t) {
    if (ec) {
      result = ec;
      return;
    }
    bhttp::async_read(*stream_, buffer_, parser, [&](ErrorCodeT read_ec, size_t) {
      result = read_ec;
    });
  });
  context_.restart();
  context_.run();
  return result;
}

// Detects, without blocking, a kept-alive connection the server has closed
// while it was idle, so the request goes on a fresh connection instead.
bool Client::Impl::PeerHasClosed() {
  char byte;
  ssize_t count = ::recv(stream_->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

void Client::Impl::Disconnect() {
  if (!stream_) return;
  ErrorCodeT ignored;
  stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_->socket().close(ignored);
  stream_.reset();
}

std::unexpected<Error> Client::Impl::ExchangeError(const ErrorCodeT& ec, std::string_view method,
                                                   std::string_view target,
                                                   std::chrono::milliseconds timeout) const {
  std::string request_line = fmt::format("{} {}{}", method, base_url_, target);
  if (ec == beast::error::timeout) {
    return DeadlineExceeded(
        fmt::format("{}: timed out after {} ms without a response", request_line,
                    timeout.count()));
  }
  if (ec == bhttp::error::body_limit) {
    return ResourceExhausted(fmt::format("{}: response body exceeds the client limit of {} bytes",
                                         request_line, kMaxResponseBodyBytes));
  }
  return Unavailable(fmt::format("{}: {}", request_line, ec.message()));
}

Result<Response> Client::Impl::Send(std::string_view method, std::string_view target,
                                    std::string_view body, const HeaderList& headers,
                                    std::chrono::milliseconds timeout) {
  if (url_error_) return std::unexpected(*url_error_);
  Clock::time_point deadline = Clock::now() + timeout;

  // Step 1: build the request.
  bhttp::request<bhttp::string_body> request;
  request.method_string(ToBeast(method));
  request.target(url_.rest + std::string(target.empty() ? "/" : target));
  request.version(11);
  if (!HasHeader(headers, "Host")) request.set(bhttp::field::host, url_.authority);
  for (const auto& [name, value] : headers) request.insert(name, value);
  if (!body.empty() && !HasHeader(headers, "Content-Type")) {
    request.set(bhttp::field::content_type, "application/json");
  }
  request.body() = std::string(body);
  request.content_length(body.size());

  // Step 2: send it, on a fresh connection again when the kept-alive one turns
  // out to be closed by the server before any response byte arrived.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = stream_.has_value();
    if (reused && PeerHasClosed()) {
      Disconnect();
      reused = false;
    }
    if (!stream_) TANDEM_RETURN_IF_ERROR(Connect(deadline, timeout));

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxResponseBodyBytes);
    ErrorCodeT ec = Exchange(request, parser, deadline);
    if (ec) {
      Disconnect();
      if (reused && attempt == 0 && IsClosedByPeer(ec)) continue;
      return ExchangeError(ec, method, target, timeout);
    }
    bhttp::response<bhttp::string_body> message = parser.release();
    if (!message.keep_alive()) Disconnect();
    return ToResponse(std::move(message));
  }
  return Unavailable(fmt::format("{} {}{}: the server closed the connection twice", method,
                                 base_url_, target));
}

Client::Client(std::string base_url) : impl_(std::make_unique<Impl>(std::move(base_url))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Response> Client::Send(std::string_view method, std::string_view target,
                              std::string_view body, const HeaderList& headers,
                              std::chrono::milliseconds timeout) {
  return impl_->Send(method, target, body, headers, timeout);
}

Result<Response> Fetch(std::string_view method, std::string_view url, std::string_view body,
                       const HeaderList& headers, std::chrono::milliseconds timeout) {
  TANDEM_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseUrl(url));
  Client client(fmt::format("http://{}", parsed.authority));
  return client.Send(method, parsed.rest, body, headers, timeout);
}

}  // namespace tandem::http
