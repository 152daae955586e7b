#include "serving/traffic.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>
#include <random>

namespace tandem::serving {
namespace {

// Splits "NAME:VERSION" and checks both parts; `flag` names the option in errors.
Status SplitModelVersion(std::string_view spec, std::string_view flag, std::string& model,
                         std::string& version) {
  const size_t colon = spec.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument(fmt::format("{} \"{}\": expected NAME:VERSION", flag, spec));
  }
  model = std::string(spec.substr(0, colon));
  version = std::string(spec.substr(colon + 1));
  if (!IsModelName(model)) {
    return InvalidArgument(
        fmt::format("{} \"{}\": model name \"{}\" must be 1-63 letters, digits or inner hyphens",
                    flag, spec, model));
  }
  if (!IsVersionNumber(version)) {
    return InvalidArgument(
        fmt::format("{} \"{}\": version \"{}\" must be a positive integer", flag, spec, version));
  }
  return Ok();
}

}  // namespace

Result<CanaryRule> ParseCanary(std::string_view spec) {
  const size_t equals = spec.rfind('=');
  if (equals == std::string_view::npos) {
    return InvalidArgument(
        fmt::format("--canary \"{}\": expected NAME:VERSION=FRACTION, e.g. flights:4=0.1", spec));
  }
  CanaryRule rule;
  TANDEM_RETURN_IF_ERROR(
      SplitModelVersion(spec.substr(0, equals), "--canary", rule.model, rule.version));
  const std::string_view text = spec.substr(equals + 1);
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), rule.fraction);
  if (error != std::errc() || end != text.data() + text.size() || !(rule.fraction >= 0) ||
      rule.fraction > 1) {
    return InvalidArgument(
        fmt::format("--canary \"{}\": fraction \"{}\" must be a number from 0 to 1", spec, text));
  }
  return rule;
}

Result<ShadowRule> ParseShadow(std::string_view spec) {
  ShadowRule rule;
  TANDEM_RETURN_IF_ERROR(SplitModelVersion(spec, "--shadow", rule.model, rule.version));
  return rule;
}

double CanaryDraw(std::string_view model, std::string_view request_id) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  };
  for (char c : model) mix(static_cast<unsigned char>(c));
  mix(0);
  for (char c : request_id) mix(static_cast<unsigned char>(c));
  // FNV-1a alone leaves the top bits of similar ids ("req-1", "req-2") close
  // together; the finalizer spreads every input bit over the whole word.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ULL;
  hash ^= hash >> 33;
  return static_cast<double>(hash >> 11) * 0x1.0p-53;
}

std::string_view PickCanaryVersion(const std::vector<CanaryRule>& rules, std::string_view model,
                                   const std::optional<std::string>& request_id) {
  for (const CanaryRule& rule : rules) {
    if (rule.model != model) continue;
    double draw = 0;
    if (request_id) {
      draw = CanaryDraw(model, *request_id);
    } else {
      thread_local std::mt19937_64 generator{std::random_device{}()};
      draw = std::uniform_real_distribution<double>(0, 1)(generator);
    }
    return draw < rule.fraction ? std::string_view(rule.version) : std::string_view();
  }
  return {};
}

ShadowMirror::ShadowMirror(std::vector<ShadowRule> rules, const ModelManager& models,
                           ServingMetrics* metrics, size_t queue_capacity)
    : rules_(std::move(rules)),
      models_(models),
      metrics_(metrics),
      capacity_(queue_capacity),
      worker_([this] { Run(); }) {}

ShadowMirror::~ShadowMirror() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

const std::string* ShadowMirror::ShadowVersion(std::string_view model) const {
  for (const ShadowRule& rule : rules_) {
    if (rule.model == model) return &rule.version;
  }
  return nullptr;
}

void ShadowMirror::Submit(const std::string& model, Encoder encode, std::vector<float> primary) {
  const std::string* version = ShadowVersion(model);
  if (version == nullptr) return;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < capacity_ && !stopping_) {
      queue_.push_back({model, *version, std::move(encode), std::move(primary)});
      changed_.notify_all();
      return;
    }
  }
  if (metrics_ != nullptr) metrics_->CountShadowComparison(model, "dropped");
}

bool ShadowMirror::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

void ShadowMirror::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Compare(job);
    lock.lock();
    busy_ = false;
    changed_.notify_all();
  }
}

void ShadowMirror::Compare(const Job& job) {
  Result<std::vector<float>> shadow = [&]() -> Result<std::vector<float>> {
    TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<const ServedModel> model,
                            models_.Find(job.model, job.version));
    TANDEM_ASSIGN_OR_RETURN(FeatureBatch features, job.encode(model->pipeline()));
    return model->Predict(features);
  }();
  std::string_view result = "failed";
  if (shadow) {
    const bool equal =
        shadow->size() == job.primary.size() &&
        std::memcmp(shadow->data(), job.primary.data(), job.primary.size() * sizeof(float)) == 0;
    result = equal ? "equal" : "different";
  } else if (failures_++ % 1000 == 0) {
    spdlog::warn("shadow prediction failed model={} version={} failures={} error=\"{}\"", job.model,
                 job.version, failures_, shadow.error().message());
  }
  if (metrics_ != nullptr) metrics_->CountShadowComparison(job.model, result);
}

}  // namespace tandem::serving
