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

}  // namespace tandem::backends
