// libFuzzer entry point for tandem::fuzz::FuzzInferRequest (fuzz_targets.h).
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::fuzz::FuzzInferRequest(data, size);
  return 0;
}
