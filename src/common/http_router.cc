#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/http.h"

namespace tandem::http {
namespace {

// The segments of a request path. Up to kInline segments are held without
// allocating, which covers every route of the servers here.
class PathSegments {
 public:
  void Append(std::string_view segment) {
    if (size_ < kInline) {
      inline_[size_] = segment;
    } else {
      if (size_ == kInline) overflow_.assign(inline_.begin(), inline_.end());
      overflow_.push_back(segment);
    }
    ++size_;
  }
  size_t size() const { return size_; }
  std::string_view operator[](size_t i) const {
    return size_ <= kInline ? inline_[i] : overflow_[i];
  }

 private:
  static constexpr size_t kInline = 16;
  std::array<std::string_view, kInline> inline_;
  std::vector<std::string_view> overflow_;
  size_t size_ = 0;
};

// Splits "/a/b/c" into {"a", "b", "c"}. One trailing slash is ignored, so
// "/a/b/" matches the pattern "/a/b"; "/" gives no segments.
void SplitPath(std::string_view path, PathSegments& segments) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return;
  while (true) {
    size_t slash = path.find('/');
    segments.Append(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
}

bool IsParameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// The raw path to match against: from the target when present, so that an
// encoded "/" (%2F) inside a segment stays inside it, else Request::path.
std::string_view RawPath(const Request& request) {
  if (request.target.empty()) return request.path;
  return TargetPath(request.target);
}

Response ErrorResponse(int status, std::string message, std::string_view code) {
  return Response::Json(status, {{"error", std::move(message)}, {"code", code}});
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler) {
  Route route;
  PathSegments segments;
  SplitPath(pattern, segments);
  for (size_t i = 0; i < segments.size(); ++i) {
    route.segments.emplace_back(segments[i]);
    if (!IsParameter(segments[i])) ++route.literal_count;
  }
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

Response Router::Dispatch(Request& request) const {
  // Step 1: find the matching route for this method with the most literal
  // segments, and note which methods match the path at all.
  PathSegments segments;
  SplitPath(RawPath(request), segments);
  const Route* best = nullptr;
  std::vector<std::string_view> allowed_methods;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool matches = true;
    for (size_t i = 0; i < segments.size() && matches; ++i) {
      matches = IsParameter(route.segments[i]) ? !segments[i].empty()
                                               : route.segments[i] == segments[i];
    }
    if (!matches) continue;
    if (route.method != request.method) {
      allowed_methods.push_back(route.method);
      continue;
    }
    if (best == nullptr || route.literal_count > best->literal_count) best = &route;
  }

  // Step 2: return 404 or 405 when no route applies.
  if (best == nullptr && allowed_methods.empty()) {
    return ErrorResponse(404, fmt::format("no route for {} {}", request.method, request.path),
                         "not_found");
  }
  if (best == nullptr) {
    std::sort(allowed_methods.begin(), allowed_methods.end());
    allowed_methods.erase(std::unique(allowed_methods.begin(), allowed_methods.end()),
                          allowed_methods.end());
    std::string allow = fmt::format("{}", fmt::join(allowed_methods, ", "));
    Response response = ErrorResponse(
        405, fmt::format("method {} is not allowed on {}; allowed: {}", request.method,
                         request.path, allow),
        "method_not_allowed");
    response.headers.emplace_back("Allow", std::move(allow));
    return response;
  }

  // Step 3: decode the path parameters and run the handler.
  request.path_params.clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = best->segments[i];
    if (!IsParameter(segment)) continue;
    auto& [name, value] = request.path_params.emplace_back();
    name.assign(segment, 1, segment.size() - 2);
    if (segments[i].find('%') == std::string_view::npos) {
      value.assign(segments[i]);  // nothing to decode
    } else if (std::optional<std::string> decoded = PercentDecode(segments[i])) {
      value = std::move(*decoded);
    } else {
      return ErrorResponse(400, fmt::format("invalid percent-encoding in path segment \"{}\"",
                                            segments[i]),
                           "invalid_argument");
    }
  }
  return best->handler(request);
}

Handler Router::AsHandler() const {
  return [this](Request& request) { return Dispatch(request); };
}

}  // namespace tandem::http
