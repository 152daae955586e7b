#include "api/api_context.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "store/api_json.h"

namespace tandem::api {

std::string ApiContext::api_url() const {
  std::lock_guard lock(api_url_mutex);
  return options.api_url;
}

void ApiContext::SetApiUrl(std::string url) {
  std::lock_guard lock(api_url_mutex);
  options.api_url = std::move(url);
}

http::Response JobResponse(int status, const store::Job& job) {
  return http::Response::Json(status, store::JobToJson(job));
}

http::Handler ToHandler(ResultHandler handler) {
  return [handler = std::move(handler)](http::Request& request) {
    Result<http::Response> response = handler(request);
    if (response) return std::move(*response);
    const Error& error = response.error();
    if (HttpStatusFor(error.code()) >= 500) {
      spdlog::warn("request failed method={} path={} code={} error={}", request.method,
                   request.path, ErrorCodeName(error.code()), error.message());
    } else {
      spdlog::debug("request rejected method={} path={} code={} error={}", request.method,
                    request.path, ErrorCodeName(error.code()), error.message());
    }
    return http::Response::FromError(error);
  };
}

http::Handler BindRoute(ApiContext& context, ContextHandler handler) {
  return ToHandler([&context, handler](http::Request& request) { return handler(context, request); });
}

Result<int64_t> QueryInt(const http::Request& request, std::string_view key,
                         int64_t default_value, int64_t min, int64_t max) {
  std::optional<std::string> text = request.Query(key);
  if (!text) return default_value;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, error] = std::from_chars(text->data(), end, value);
  if (text->empty() || error != std::errc() || ptr != end || value < min || value > max) {
    return InvalidArgument(fmt::format("query parameter {}=\"{}\" is invalid, expected an "
                                       "integer from {} to {}",
                                       key, *text, min, max));
  }
  return value;
}

}  // namespace tandem::api
