// Boost.Beast's HTTP/1.1 request parser with callbacks that fill an
// http::Request directly, so that no beast::http::fields container is built
// and copied per request. Internal to the server (http_connection.cc).
//
// The Request belongs to the caller, who reuses it for the requests of one
// connection so that its strings keep their capacity. ClearForReuse() empties
// it before each one.
//
// Feed it with put(); it stops after the header until eager(true) is set, so
// that the caller can judge the body size first. The body limit starts at the
// maximum: the caller sets the real one once the header is known.
#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/http.h"

namespace tandem::http::internal {

// Maximum size of a request header. A longer one fails with header_limit.
constexpr uint32_t kHeaderLimitBytes = 16 * 1024;

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using ErrorCodeT = boost::system::error_code;

inline std::string_view ToStd(beast::string_view text) { return {text.data(), text.size()}; }

// Bodies up to this size keep their buffer for the next request of the
// connection. A larger buffer is released, so that one big upload does not
// pin its memory for as long as the connection stays open.
constexpr size_t kReusedBodyBytes = 64 * 1024;

// Empties `request` for the next request of a connection, keeping the
// capacity of its strings and lists.
inline void ClearForReuse(Request& request) {
  request.method.clear();
  request.target.clear();
  request.path.clear();
  if (request.body.capacity() > kReusedBodyBytes) {
    std::string().swap(request.body);
  } else {
    request.body.clear();
  }
  request.headers.clear();
  request.path_params.clear();
}

class RequestParser : public bhttp::basic_parser<true> {
 public:
  // Fills `request`, which must be empty (ClearForReuse) and outlive the parser.
  explicit RequestParser(Request& request) : request_(request) {
    header_limit(kHeaderLimitBytes);
    // Judged after the header, per path. Not boost::none, which Boost 1.74
    // compares as smaller than every Content-Length.
    body_limit(std::numeric_limits<uint64_t>::max());
    request_.headers.reserve(kReservedHeaders);  // instead of growing per header
  }

  Request& request() { return request_; }
  bool expects_continue() const { return expects_continue_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int,
                       ErrorCodeT&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
  }

  void on_response_impl(int, beast::string_view, int, ErrorCodeT&) override {}

  void on_field_impl(bhttp::field field, beast::string_view name, beast::string_view value,
                     ErrorCodeT&) override {
    if (field == bhttp::field::expect && beast::iequals(value, "100-continue")) {
      expects_continue_ = true;
    }
    request_.headers.emplace_back(ToStd(name), ToStd(value));
  }

  void on_header_impl(ErrorCodeT&) override {}

  void on_body_init_impl(const boost::optional<uint64_t>& length, ErrorCodeT&) override {
    // The length was judged against the body limit before the body is read.
    if (length) request_.body.reserve(*length);
  }

  size_t on_body_impl(beast::string_view body, ErrorCodeT&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(uint64_t, beast::string_view, ErrorCodeT&) override {}

  size_t on_chunk_body_impl(uint64_t, beast::string_view body, ErrorCodeT&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(ErrorCodeT&) override {}

  // Headers of a typical request, reserved at once.
  static constexpr size_t kReservedHeaders = 8;

  Request& request_;
  bool expects_continue_ = false;
};

}  // namespace tandem::http::internal
