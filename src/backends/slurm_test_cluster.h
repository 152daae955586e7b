// Helpers for tests that run against the Slurm cluster of the ctest fixture
// `slurm` (scripts/slurm-test-cluster.sh), which exports its slurm.conf path
// as TANDEM_TEST_SLURM_CONF. Header-only, for test targets.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace tandem::backends::testing {

// Returns the test cluster's slurm.conf path, or "" outside the fixture.
inline std::string SlurmConf() {
  const char* conf = std::getenv("TANDEM_TEST_SLURM_CONF");
  return conf ? conf : "";
}

// Runs a shell command line with the test cluster's SLURM_CONF and returns
// its standard output and error together.
inline std::string Shell(const std::string& command) {
  std::string line = "SLURM_CONF='" + SlurmConf() + "' " + command + " 2>&1";
  std::string output;
  FILE* pipe = ::popen(line.c_str(), "r");
  if (!pipe) return output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

// The cluster's first node, set DOWN on request and resumed when the object
// goes away, pass or fail, so that later tests find it idle.
class DownNode {
 public:
  DownNode() {
    std::string names = Shell("sinfo --noheader --format=%N");
    node_ = names.substr(0, names.find_first_of(" \n"));
  }
  ~DownNode() { Resume(); }
  DownNode(const DownNode&) = delete;
  DownNode& operator=(const DownNode&) = delete;

  const std::string& name() const { return node_; }
  // Returns scontrol's output, empty on success.
  std::string Down() {
    return Shell("scontrol update nodename=" + node_ + " state=down reason=tandem-retry-test");
  }
  void Resume() {
    if (!node_.empty()) Shell("scontrol update nodename=" + node_ + " state=resume");
  }

 private:
  std::string node_;
};

}  // namespace tandem::backends::testing
