// The last libxgboost error of the calling thread, made fit for users.
#pragma once

#include <string>

namespace tandem::model {

// Returns XGBGetLastError()'s message without its "[time] file:line: " prefix
// and without the stack trace that libxgboost appends; "no message from
// libxgboost" when it set none.
std::string LastXGBoostError();

}  // namespace tandem::model
