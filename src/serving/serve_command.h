// `tandem serve`: the inference server (docs/serving.md).
//
//   tandem serve --model DIR | --model NAME:VERSION  (repeatable; VERSION latest, N or N,M,...)
//                [--registry URL] [--model-root DIR] [--poll-seconds 0]
//                [--predictor auto|compiled|libxgboost] [--admin-token-file FILE]
//                [--max-batch-rows 256] [--max-batch-delay-us 0]
//                [--canary NAME:VERSION=FRACTION] [--shadow NAME:VERSION] [--shadow-queue 1000]
//                [--host 127.0.0.1] [--port 8080] [--threads N] [--pin-threads] [--cache-dir DIR]
//                [--max-body-mb 6] [--drain-seconds 20] [--drain-idle-seconds 1]
//                [--log-level info]
//
// With no --model and /opt/ml/model present (a SageMaker endpoint container),
// that directory is served. The port defaults to $SAGEMAKER_BIND_TO_PORT, else
// 8080. The socket listens before the models finish loading; readiness turns
// 200 once every model has loaded and passed its self-tests.
// SIGTERM or SIGINT: readiness returns 503 at once while inference requests
// are still served, on open connections and new ones. Once no inference
// request has arrived for --drain-idle-seconds and none is in flight, or when
// --drain-seconds have passed, the listening socket closes, requests in
// flight finish (within what is left of --drain-seconds), and the process
// exits 0.
// Exit code 2: bad options or the address cannot be bound.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/command.h"

namespace tandem::serving {

struct ServeSettings {
  std::vector<std::string> models;  // --model values
  std::string registry_url;         // --registry
  std::string model_root;           // --model-root
  double poll_seconds = 0;          // 0: never poll
  std::string predictor = "auto";
  std::string admin_token_file;  // empty: repository routes answer 403
  int max_batch_rows = 256;
  int max_batch_delay_us = 0;  // 0: batching off
  std::vector<std::string> canaries;
  std::vector<std::string> shadows;
  int shadow_queue = 1000;
  std::string host = "127.0.0.1";
  int port = -1;          // -1: $SAGEMAKER_BIND_TO_PORT, else 8080
  int threads = 0;        // 0: hardware threads
  bool pin_threads = false;  // pin HTTP thread i to the i-th allowed CPU
  std::string cache_dir;  // empty: a fresh directory under the system temp directory
  double max_body_mb = 6;
  int drain_seconds = 20;
  double drain_idle_seconds = 1;
  std::string log_level = "info";
  // Exit 1 when a model fails its first loads, instead of staying up and not ready.
  bool exit_on_load_failure = false;
};

// Runs the server until SIGTERM or SIGINT and returns the exit code: 0 after
// a drain, 1 when a model failed to load and exit_on_load_failure is set, 2
// for invalid options or an address that cannot be bound.
// REQUIRES: called from the main thread before any other thread starts, so
// that blocking the stop signals covers every thread.
int RunServe(const ServeSettings& settings);

// Declares `tandem serve` and its options on `app`.
void AddServeCommand(CLI::App& app, CommandAction& action);

}  // namespace tandem::serving
