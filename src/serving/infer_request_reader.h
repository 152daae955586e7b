// A fast reader for the common form of Open Inference Protocol infer request
// bodies, on simdjson's DOM parser (Debian's libsimdjson-dev).
//
// It reads the request only when the body is valid JSON of this form:
//   {"id": "r1" or null,
//    "inputs": [{"name": "...", "datatype": "FP64", "shape": [n, ...],
//                "data": [flat elements that fit the datatype]}, ...],
//    "outputs": [{"name": "..."}, ...] or null}
// with no other keys, no key twice in one object, at least one input, no
// input name twice, and every element count matching its shape. For any
// other body, including every invalid one, it returns std::nullopt, and
// ParseInferRequest reads the body with the full parser instead. That keeps
// one implementation for every rule and error message, and this reader only
// returns what the full parser would return for the same body.
//
// Thread safety: may be called from any number of threads at once. Each
// thread keeps its own simdjson parser, and its buffers grow to the largest
// body that thread has read.
#pragma once

#include <optional>
#include <string_view>

#include "serving/inference_protocol.h"

namespace tandem::serving {

// Returns the request read from `body`, or std::nullopt when `body` is not of
// the form above.
std::optional<InferRequest> ReadCommonInferRequest(std::string_view body);

// As above, into `request`, whose strings and vectors are reused, so that a
// thread that keeps one InferRequest allocates nothing for a body no larger
// than earlier ones. Returns false when `body` is not of the form above, and
// then `request` contains unspecified values.
bool ReadCommonInferRequest(std::string_view body, InferRequest& request);

}  // namespace tandem::serving
