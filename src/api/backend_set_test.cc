#include "api/backend_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "api/api_test_fixture.h"
#include "api/config_watcher.h"
#include "common/crypto.h"
#include "common/file_util.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

// A factory of FakeBackends that counts builds and can be made to fail.
struct CountingFactory {
  int builds = 0;
  std::optional<std::string> fail_for;

  BackendFactory AsFactory() {
    return [this](const std::string& name,
                  const BackendConfig&) -> Result<std::shared_ptr<backends::Backend>> {
      if (fail_for == name) return Unavailable("cannot reach the cluster");
      ++builds;
      return std::make_shared<FakeBackend>();
    };
  }
};

RoutingConfig TwoBackends() {
  RoutingConfig config;
  config.backends["a"] = BackendConfig{.type = "local"};
  config.backends["b"] = BackendConfig{.type = "local"};
  config.routes.push_back(Route{.pattern = "flights", .backend = "b", .where = "Routes[0]"});
  config.default_route = Route{.backend = "a", .where = "Default"};
  return config;
}

TEST(BackendSet, BuildsEachConfiguredBackend) {
  CountingFactory factory;
  BackendSet set(factory.AsFactory());
  ASSERT_TRUE(set.Apply(TwoBackends()));
  EXPECT_EQ(factory.builds, 2);
  EXPECT_NE(set.Find("a"), nullptr);
  EXPECT_NE(set.Find("b"), nullptr);
  EXPECT_EQ(set.Find("c"), nullptr);

  Result<RouteChoice> choice = set.Route("flights", std::nullopt);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "b");
}

TEST(BackendSet, KeepsUnchangedInstances) {
  CountingFactory factory;
  BackendSet set(factory.AsFactory());
  ASSERT_TRUE(set.Apply(TwoBackends()));
  std::shared_ptr<backends::Backend> a = set.Find("a");

  RoutingConfig config = TwoBackends();
  config.routes[0].backend = "a";
  ASSERT_TRUE(set.Apply(config));
  EXPECT_EQ(factory.builds, 2);
  EXPECT_EQ(set.Find("a"), a);
  EXPECT_EQ(set.retired_count(), 0u);
  EXPECT_EQ(set.Route("flights", std::nullopt)->backend, "a");
}

TEST(BackendSet, RetiresRemovedBackend) {
  CountingFactory factory;
  BackendSet set(factory.AsFactory());
  ASSERT_TRUE(set.Apply(TwoBackends()));
  std::shared_ptr<backends::Backend> b = set.Find("b");

  RoutingConfig config = TwoBackends();
  config.backends.erase("b");
  config.routes.clear();
  ASSERT_TRUE(set.Apply(config));
  EXPECT_EQ(set.retired_count(), 1u);
  // Jobs still running on "b" reach the retired instance.
  EXPECT_EQ(set.Find("b"), b);
  EXPECT_EQ(set.Route("flights", std::nullopt)->backend, "a");
}

TEST(BackendSet, RebuildsChangedBackend) {
  CountingFactory factory;
  BackendSet set(factory.AsFactory());
  ASSERT_TRUE(set.Apply(TwoBackends()));
  std::shared_ptr<backends::Backend> old_b = set.Find("b");

  RoutingConfig config = TwoBackends();
  config.backends["b"].options = {{"partition", "debug"}};
  ASSERT_TRUE(set.Apply(config));
  EXPECT_EQ(factory.builds, 3);
  EXPECT_NE(set.Find("b"), old_b);
  EXPECT_EQ(set.retired_count(), 1u);
}

TEST(BackendSet, FailedBuildKeepsOldConfig) {
  CountingFactory factory;
  BackendSet set(factory.AsFactory());
  ASSERT_TRUE(set.Apply(TwoBackends()));

  RoutingConfig config = TwoBackends();
  config.backends["c"] = BackendConfig{.type = "local"};
  config.routes[0].backend = "c";
  factory.fail_for = "c";
  Status applied = set.Apply(config);
  ASSERT_FALSE(applied);
  EXPECT_THAT(applied.error().message(), HasSubstr("Backends.c: cannot reach the cluster"));
  EXPECT_EQ(set.Find("c"), nullptr);
  EXPECT_EQ(set.Route("flights", std::nullopt)->backend, "b");
}

TEST(BackendSet, SingleBackendCannotBeReconfigured) {
  FakeBackend backend;
  std::unique_ptr<BackendSet> set = BackendSet::ForSingleBackend("fake", &backend);
  EXPECT_EQ(set->Find("fake").get(), &backend);
  EXPECT_EQ(set->Route("any", std::nullopt)->backend, "fake");
  Status applied = set->Apply(TwoBackends());
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code(), ErrorCode::kFailedPrecondition);
}

// The config watcher over a file in a temporary directory.
class ConfigWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("tandem-config-watcher-test-{}", RandomHex(6));
    ASSERT_TRUE(CreateDirectories(dir_));
    path_ = dir_ / "routing.json";
    Write(R"({"Backends": {"a": {"Type": "local"}, "b": {"Type": "local"}},
              "Routes": [{"Repository": "flights", "Backend": "b"}],
              "Default": {"Backend": "a"}})");
    Result<RoutingConfig> config = LoadRoutingConfig(path_, nullptr);
    ASSERT_TRUE(config) << config.error().message();
    ASSERT_TRUE(set_.Apply(*config));
  }

  void TearDown() override {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }

  // Replaces the file, with a modification time that differs from the last one.
  void Write(std::string_view text) {
    ASSERT_TRUE(WriteFileAtomic(path_, text, std::filesystem::perms::owner_all));
    std::filesystem::last_write_time(
        path_, std::filesystem::file_time_type::clock::now() + std::chrono::seconds(++writes_));
  }

  std::string RouteOf(std::string_view repository) {
    Result<RouteChoice> choice = set_.Route(repository, std::nullopt);
    return choice ? choice->backend : choice.error().message();
  }

  ConfigWatcherOptions Options() {
    return ConfigWatcherOptions{.path = path_,
                                .poll_interval = std::chrono::milliseconds(20),
                                .validate_options = nullptr};
  }

  std::filesystem::path dir_;
  std::filesystem::path path_;
  int writes_ = 0;
  CountingFactory factory_;
  BackendSet set_{factory_.AsFactory()};
};

TEST_F(ConfigWatcherTest, UnchangedFileNotReloaded) {
  ConfigWatcher watcher(Options(), set_);
  EXPECT_FALSE(watcher.ReloadIfChanged());
  EXPECT_EQ(watcher.reloads(), 0);
}

TEST_F(ConfigWatcherTest, ChangedFileReloaded) {
  ConfigWatcher watcher(Options(), set_);
  Write(R"({"Backends": {"a": {"Type": "local"}, "b": {"Type": "local"}},
            "Routes": [{"Repository": "flights", "Backend": "a"},
                       {"Repository": "churn", "Backend": "b"}]})");
  EXPECT_TRUE(watcher.ReloadIfChanged());
  EXPECT_EQ(watcher.reloads(), 1);
  EXPECT_EQ(RouteOf("flights"), "a");
  EXPECT_EQ(RouteOf("churn"), "b");
  EXPECT_THAT(RouteOf("other"), HasSubstr("matches no route"));
  EXPECT_FALSE(watcher.ReloadIfChanged());
}

TEST_F(ConfigWatcherTest, BadFileKeepsOldConfig) {
  ConfigWatcher watcher(Options(), set_);
  Write(R"({"Backends": {"a": {"Type": "local"}},
            "Routes": [{"Repository": "flights", "Backend": "gone"}]})");
  EXPECT_TRUE(watcher.ReloadIfChanged());
  EXPECT_EQ(watcher.failures(), 1);
  EXPECT_EQ(watcher.reloads(), 0);
  EXPECT_EQ(RouteOf("flights"), "b");
  EXPECT_EQ(RouteOf("other"), "a");
  // The same bad file is not retried until it changes again.
  EXPECT_FALSE(watcher.ReloadIfChanged());

  Status reloaded = watcher.Reload();
  ASSERT_FALSE(reloaded);
  EXPECT_THAT(reloaded.error().message(),
              HasSubstr("Routes[0].Backend: backend \"gone\" is not defined"));
}

TEST_F(ConfigWatcherTest, InvalidJsonKeepsOldConfig) {
  ConfigWatcher watcher(Options(), set_);
  Write("{\"Backends\": ");
  EXPECT_TRUE(watcher.ReloadIfChanged());
  EXPECT_EQ(watcher.failures(), 1);
  EXPECT_EQ(RouteOf("flights"), "b");
}

TEST_F(ConfigWatcherTest, ThreadReloadsChangedFile) {
  ConfigWatcher watcher(
      ConfigWatcherOptions{.path = path_,
                           .poll_interval = std::chrono::milliseconds(20),
                           .reload_on_sighup = false},
      set_);
  watcher.Start();
  Write(R"({"Backends": {"a": {"Type": "local"}}, "Default": {"Backend": "a"}})");
  for (int i = 0; i < 500 && watcher.reloads() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watcher.Stop();
  EXPECT_EQ(watcher.reloads(), 1);
  EXPECT_EQ(RouteOf("flights"), "a");
}

TEST_F(ConfigWatcherTest, SighupReloadsFile) {
  // Blocked before the watcher's thread starts, so only sigtimedwait receives it.
  BlockReloadSignal();
  ConfigWatcher watcher(Options(), set_);
  // The same size and modification time: only SIGHUP can trigger the reload.
  std::filesystem::file_time_type modified = std::filesystem::last_write_time(path_);
  std::string text = *ReadFile(path_);
  std::string swapped = text;
  size_t at = swapped.find("\"b\"}]");
  ASSERT_NE(at, std::string::npos);
  swapped.replace(at, 3, "\"a\"");
  ASSERT_TRUE(WriteFileAtomic(path_, swapped, std::filesystem::perms::owner_all));
  std::filesystem::last_write_time(path_, modified);

  watcher.Start();
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  for (int i = 0; i < 500 && watcher.reloads() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watcher.Stop();
  EXPECT_EQ(watcher.reloads(), 1);
  EXPECT_EQ(RouteOf("flights"), "a");
}

}  // namespace
}  // namespace tandem::api
