// HTTP/1.1 server, router and client shared by the control plane, the job
// runtime and the inference server.
//
// The server is an epoll loop that parses with Boost.Beast, and the client is
// Beast over Asio, but this header includes neither so that handler code
// compiles quickly. Handlers are synchronous and run on one of the
// server's I/O threads. Keep them short, because a blocked handler stalls every
// connection served by that thread.
//
//   http::Router router;
//   router.Add("GET", "/api/v1/jobs/{id}", [&](http::Request& r) {
//     return http::Response::Json(200, {{"id", r.PathParam("id")}});
//   });
//   http::Server server({.port = 8500}, router.AsHandler());
//   TANDEM_ASSIGN_OR_RETURN(uint16_t port, server.Start());
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tandem::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", upper case
  std::string target;  // as received, with query
  std::string path;    // percent-decoded path without query
  std::string body;
  HeaderList headers;
  // Filled by Router from the pattern's {name} segments, in path order.
  std::vector<std::pair<std::string, std::string>> path_params;

  // Returns the first header named `name` (case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
  // Returns the percent-decoded value of query parameter `key` ('+' reads as a
  // space), "" for a bare "?key", std::nullopt when absent.
  std::optional<std::string> Query(std::string_view key) const;
  // Returns the path parameter `name` matched by the Router, or "" when absent.
  std::string PathParam(std::string_view name) const;
  // Returns the path parameter `name` matched by the Router, or nullptr when absent.
  const std::string* FindPathParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers. Content-Type comes from content_type and Content-Length is
  // always set by the server, so neither belongs here.
  HeaderList headers;

  // Returns the header named `name` (case-insensitive), or "" when absent.
  // Useful on responses received by Client.
  std::string Header(std::string_view name) const;

  static Response Json(int status, const nlohmann::json& body);
  static Response Text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // Returns {"error": message, "code": ErrorCodeName(code)} with HttpStatusFor(code).
  static Response FromError(const Error& error);
};

using Handler = std::function<Response(Request&)>;

// Maps (method, path pattern) to handlers. Patterns are literal segments and
// {name} segments, e.g. "/api/v1/jobs/{id}/events"; {name} matches exactly one
// non-empty segment and its decoded value lands in Request::path_params,
// which Dispatch() replaces.
// Literal segments win over {name} segments when both match.
// Add() is not thread-safe; after setup, Dispatch() may be called from any
// number of threads at once.
class Router {
 public:
  Router() = default;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  void Add(std::string method, std::string pattern, Handler handler);

  // Runs the matching handler. Returns a 404 JSON error when no pattern matches
  // the path, and a 405 JSON error with an Allow header when patterns match the
  // path but none for this method.
  Response Dispatch(Request& request) const;

  // Returns the router as one Handler. The Router must outlive it.
  Handler AsHandler() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" marks a parameter
    int literal_count = 0;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port
  int threads = 2;
  size_t max_body_bytes = 6 * 1024 * 1024;  // larger bodies get 413 with a JSON error
  // Optional per-request override of max_body_bytes, given method and path
  // (e.g. larger uploads). Called on an I/O thread before the body is read.
  std::function<size_t(std::string_view method, std::string_view path)> body_limit;
  // Optional, called on an I/O thread for each error response that the server
  // sends without running the handler: 400 for a malformed request or path,
  // 413 and 431. `request` contains what was parsed so far, so its method and
  // target may be empty. It lets a service count these requests, and must not block.
  std::function<void(const Request& request, int status)> on_rejected;
  // Bounds each wait on a connection: for a request's header, then for its
  // body, then for the response write. A connection idle this long is closed.
  std::chrono::seconds idle_timeout{60};
  // Pins I/O thread i to the i-th CPU the process may run on (modulo their
  // count). With bench/serving/run.sh on 2 CPUs shared with wrk, it made no
  // clear difference to requests/s or p99 (bench/serving/results-2026-12-05.md).
  // A process forked from a handler inherits its thread's pin, so servers
  // whose handlers start processes should leave it off.
  bool pin_threads = false;
};

// Async HTTP/1.1 server with keep-alive on a pool of `threads` I/O threads.
//
// Malformed requests get a 400 JSON error and the connection is closed; a body
// over the limit gets 413 (judged from Content-Length before the body is read,
// or while reading a chunked body); an exception escaping the handler gets a
// 500 JSON error and an ERROR log line. Every response carries Content-Length.
//
// Start, BeginDrain, WaitIdle and Stop may be called from any thread except the
// server's own I/O threads (Stop from a handler would deadlock).
class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O threads; returns the bound port.
  // Errors: kUnavailable when the address cannot be bound (port taken),
  // kInvalidArgument for an unparsable host, kFailedPrecondition when called twice.
  Result<uint16_t> Start();

  // Stops accepting new connections: the socket stops listening, so new
  // connects are refused. Requests in flight finish. Every later response
  // carries "Connection: close" and closes its connection; idle keep-alive
  // connections stay open until they send a request, time out or Stop().
  void BeginDrain();

  // Waits until no request is in flight; false when `timeout` passes first.
  bool WaitIdle(std::chrono::milliseconds timeout);

  // Closes every socket and joins the I/O threads. Idempotent.
  void Stop();

  // Number of requests whose headers were read and whose response is not yet written.
  int64_t in_flight() const;

  // Number of connections accepted since Start().
  int64_t connections_accepted() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Client over one keep-alive connection, reconnecting once when the peer has
// closed it. Not thread-safe: one Client per thread.
// A non-2xx status is not an error: the Response carries it.
// Errors: kInvalidArgument for a malformed URL, kUnavailable when the server
// cannot be reached ("cannot connect to 127.0.0.1:8500: Connection refused") or
// the connection breaks, kDeadlineExceeded when `timeout` passes first.
class Client {
 public:
  explicit Client(std::string base_url);  // "http://127.0.0.1:8500"; only http
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Sends one request to base_url + target ("/api/v1/jobs?x=1"). Host,
  // Content-Length and (when a body is given without one) Content-Type:
  // application/json are set unless `headers` has them. `timeout` bounds the
  // whole exchange, connecting included.
  Result<Response> Send(std::string_view method, std::string_view target,
                        std::string_view body = "", const HeaderList& headers = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends one request on a fresh connection; `url` is "http://host:port/path?query".
// Errors as for Client::Send.
Result<Response> Fetch(std::string_view method, std::string_view url, std::string_view body = "",
                       const HeaderList& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Returns the path part of a request target, up to its first '?' or '#',
// still percent-encoded.
std::string_view TargetPath(std::string_view target);

// Returns `text` with %XX sequences decoded ('+' stays '+'); nullopt for a
// malformed escape.
std::optional<std::string> PercentDecode(std::string_view text);

// Returns `text` with every byte outside [A-Za-z0-9-._~] percent-encoded, for
// building query strings and path segments.
std::string PercentEncode(std::string_view text);

}  // namespace tandem::http
