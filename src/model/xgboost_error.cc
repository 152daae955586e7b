#include "model/xgboost_error.h"

#include <xgboost/c_api.h>

#include <string_view>

namespace tandem::model {

std::string LastXGBoostError() {
  const char* raw = XGBGetLastError();
  if (raw == nullptr || *raw == '\0') return "no message from libxgboost";
  std::string_view message = raw;

  // libxgboost appends "Stack trace:" and one line per frame.
  size_t trace = message.find("Stack trace:");
  if (trace != std::string_view::npos) message = message.substr(0, trace);

  // Messages start with "[19:42:05] /build/.../learner.cc:123: ".
  if (message.starts_with('[')) {
    size_t source = message.find("] ");
    size_t text = source == std::string_view::npos ? source : message.find(": ", source);
    if (text != std::string_view::npos) message = message.substr(text + 2);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.remove_suffix(1);
  }
  return std::string(message);
}

}  // namespace tandem::model
