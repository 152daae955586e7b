#include "backends/backend.h"

namespace tandem::backends {

std::string_view Name(EndCause cause) {
  switch (cause) {
    case EndCause::kUnspecified: return "Unspecified";
    case EndCause::kCancelled: return "Cancelled";
    case EndCause::kMaxRuntimeExceeded: return "MaxRuntimeExceeded";
    case EndCause::kInterrupted: return "Interrupted";
    case EndCause::kOutOfMemory: return "OutOfMemory";
  }
  return "Unspecified";
}

std::filesystem::path AttemptDir(const std::filesystem::path& jobs_dir, std::string_view job_id,
                                 int64_t attempt) {
  std::filesystem::path first = jobs_dir / job_id;
  if (attempt <= 1) return first;
  return first / fmt::format("attempt-{}", attempt);
}

}  // namespace tandem::backends
