#include "fuzz_targets.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "model/feature_pipeline.h"
#include "serving/feature_batch.h"
#include "serving/infer_request_reader.h"
#include "serving/inference_protocol.h"
#include "serving/sagemaker_protocol.h"

namespace tandem::fuzz {
namespace {

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz contract broken: %s\n", what);
  std::abort();
}

// A pipeline with one field of each type, fitted on a few records: distance
// (number), origin (string, 3 known values), dep (datetime with hour and
// day_of_week), 4 model inputs.
const model::FeaturePipeline& Pipeline() {
  static const model::FeaturePipeline pipeline = [] {
    Json spec = Json::parse(R"({
      "Label": "delay",
      "Features": [
        {"Field": "distance", "Kind": "numeric"},
        {"Field": "origin", "Kind": "categorical"},
        {"Field": "dep", "Kind": "datetime", "Parts": ["hour", "day_of_week"]}]})");
    Result<model::FeaturePipelineSpec> parsed =
        model::FeaturePipelineSpec::FromJson(spec, "FeaturePipeline");
    Check(parsed.has_value(), "fixed pipeline spec parses");
    model::FeaturePipelineFitter fitter(std::move(*parsed));
    for (const char* record :
         {R"({"distance": 100, "origin": "SFO", "dep": "2024-03-01 10:00"})",
          R"({"distance": 2400, "origin": "JFK", "dep": "2024-03-02 23:59"})",
          R"({"distance": null, "origin": "LAX", "dep": "2024-03-03 00:00"})"}) {
      Check(fitter.AddJsonRecord(Json::parse(record)).has_value(), "fixed record fits");
    }
    Result<model::FeaturePipeline> fitted = std::move(fitter).Finish();
    Check(fitted.has_value(), "fixed pipeline fits");
    return std::move(*fitted);
  }();
  return pipeline;
}

void CheckBatch(const Result<serving::FeatureBatch>& batch) {
  if (!batch) return;
  Check(batch->rows > 0, "a feature batch is never empty");
  Check(batch->values.size() == batch->rows * Pipeline().num_features(),
        "a feature batch holds rows x num_features values");
}

// Checks that the fast reader returns what the full parser returns for `body`,
// or declines it.
void CheckFastReader(std::string_view body) {
  std::optional<serving::InferRequest> fast = serving::ReadCommonInferRequest(body);
  if (!fast) return;
  Result<Json> document = serving::ParseRequestJson(body, "request body");
  Check(document.has_value(), "the full parser accepts the JSON the fast reader read");
  if (!document) return;
  Result<serving::InferRequest> full = serving::InferRequestFromJson(*document);
  Check(full.has_value(), "the full parser accepts the request the fast reader read");
  if (!full) return;
  Check(fast->id == full->id && fast->outputs == full->outputs &&
            fast->inputs.size() == full->inputs.size(),
        "the fast reader's id, outputs and input count equal the full parser's");
  for (size_t i = 0; i < fast->inputs.size() && i < full->inputs.size(); ++i) {
    const serving::InferInput& a = fast->inputs[i];
    const serving::InferInput& b = full->inputs[i];
    Check(a.name == b.name && a.datatype == b.datatype && a.shape == b.shape &&
              a.strings == b.strings && a.numbers.size() == b.numbers.size(),
          "the fast reader's tensors equal the full parser's");
    for (size_t j = 0; j < a.numbers.size() && j < b.numbers.size(); ++j) {
      Check(std::memcmp(&a.numbers[j], &b.numbers[j], sizeof(double)) == 0 ||
                (std::isnan(a.numbers[j]) && std::isnan(b.numbers[j])),
            "the fast reader's numbers equal the full parser's bit for bit");
    }
  }
}

}  // namespace

void FuzzInferRequest(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  CheckFastReader(body);
  Result<serving::InferRequest> request = serving::ParseInferRequest(body);
  if (!request) {
    Check(!request.error().message().empty(), "errors carry a message");
    return;
  }
  Check(!request->inputs.empty(), "a parsed request has inputs");
  for (const serving::InferInput& input : request->inputs) {
    size_t elements = 1;
    for (int64_t dimension : input.shape) {
      Check(dimension >= 0, "dimensions are not negative");
      elements *= static_cast<size_t>(dimension);
    }
    Check(input.size() == elements, "element count equals the product of shape");
  }
  (void)serving::CheckRequestedOutputs(*request);
  CheckBatch(serving::FeaturesFromInferRequest(*request, Pipeline()));
}

void FuzzSageMakerBody(const uint8_t* data, size_t size) {
  if (size == 0) return;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      Result<std::vector<Json>> records = serving::ParseJsonRecords(body);
      if (records) {
        Check(!records->empty(), "a parsed JSON body has records");
        CheckBatch(serving::FeaturesFromRecords(*records, Pipeline()));
      }
      break;
    }
    case 1: {
      Result<std::vector<Json>> records = serving::ParseJsonLinesRecords(body);
      if (records) {
        Check(!records->empty(), "a parsed JSON Lines body has records");
        CheckBatch(serving::FeaturesFromRecords(*records, Pipeline()));
      }
      break;
    }
    default:
      CheckBatch(serving::FeaturesFromCsv(body, Pipeline()));
      break;
  }
}

void FuzzRecordTransform(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<Json> record = ParseJson(text, "record");
  if (!record) return;
  std::vector<float> out(Pipeline().num_features());
  (void)Pipeline().TransformJson(*record, out);
}

}  // namespace tandem::fuzz
