#include "api/routing_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "api/backend_factory.h"
#include "common/file_util.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

Json ValidConfig() {
  return Json::parse(R"({
    "Backends": {"local": {"Type": "local"}, "local-b": {"Type": "local"}},
    "Routes": [
      {"Repository": "flights", "Backend": "local-b"},
      {"Repository": "team-a/*", "Backend": "local", "AllowedBackends": ["local-b"]},
      {"Repository": "team-?/[a-m]*", "Backend": "local-b"}
    ],
    "Default": {"Backend": "local"}
  })");
}

Result<RoutingConfig> Parse(const Json& document) {
  return ParseRoutingConfig(document, "routing.json", BackendOptionsValidatorForTypes());
}

RoutingConfig ParseOrDie(const Json& document) {
  Result<RoutingConfig> config = Parse(document);
  EXPECT_TRUE(config) << config.error().message();
  return config ? *config : RoutingConfig{};
}

TEST(RoutingConfig, ParsesValidConfig) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  ASSERT_EQ(config.backends.size(), 2u);
  EXPECT_EQ(config.backends.at("local").type, "local");
  ASSERT_EQ(config.routes.size(), 3u);
  EXPECT_EQ(config.routes[1].pattern, "team-a/*");
  EXPECT_EQ(config.routes[1].backend, "local");
  EXPECT_EQ(config.routes[1].allowed_backends, std::vector<std::string>{"local-b"});
  EXPECT_EQ(config.routes[1].where, "Routes[1]");
  ASSERT_TRUE(config.default_route);
  EXPECT_EQ(config.default_route->backend, "local");
  EXPECT_EQ(config.default_route->where, "Default");
}

TEST(RoutingConfig, AcceptsSlurmBackend) {
  Json document = ValidConfig();
  document["Backends"]["hpc"] = {{"Type", "slurm"}, {"Partition", "debug"}};
  document["Routes"][0]["Backend"] = "hpc";
  RoutingConfig config = ParseOrDie(document);
  EXPECT_EQ(config.backends.at("hpc").type, "slurm");
  EXPECT_EQ(config.backends.at("hpc").options, Json({{"Partition", "debug"}}));
}

TEST(RoutingConfig, AcceptsRoutesWithoutDefault) {
  Json document = ValidConfig();
  document.erase("Default");
  RoutingConfig config = ParseOrDie(document);
  EXPECT_FALSE(config.default_route);
}

TEST(RoutingConfig, AcceptsDefaultWithoutRoutes) {
  Json document = ValidConfig();
  document.erase("Routes");
  RoutingConfig config = ParseOrDie(document);
  EXPECT_TRUE(config.routes.empty());
}

struct BadCase {
  std::string name;
  std::function<void(Json&)> mutate;
  std::string expected;  // a substring of the message
};

std::vector<BadCase> BadCases() {
  return {
      {"not an object", [](Json& c) { c = Json::array(); },
       "routing.json: configuration: expected an object"},
      {"unknown top-level key", [](Json& c) { c["Route"] = Json::array(); },
       "routing.json: Route: unknown field"},
      {"no backends", [](Json& c) { c.erase("Backends"); }, "Backends: missing or empty"},
      {"empty backends", [](Json& c) { c["Backends"] = Json::object(); },
       "Backends: missing or empty"},
      {"backend not an object", [](Json& c) { c["Backends"]["local"] = "local"; },
       "Backends.local: expected an object"},
      {"backend without type", [](Json& c) { c["Backends"]["local"] = Json::object(); },
       "Backends.local.Type: missing required field"},
      {"unknown backend type", [](Json& c) { c["Backends"]["local"]["Type"] = "k8s"; },
       "Backends.local.Type: \"k8s\" is not a backend type"},
      {"unknown local option", [](Json& c) { c["Backends"]["local"]["Partition"] = "debug"; },
       "Backends.local.Partition: unknown field"},
      {"bad backend name", [](Json& c) { c["Backends"]["local_c"] = {{"Type", "local"}}; },
       "Backends.local_c: \"local_c\" contains '_'"},
      {"routes not an array", [](Json& c) { c["Routes"] = Json::object(); },
       "Routes: expected an array of routes, got object"},
      {"route not an object", [](Json& c) { c["Routes"][0] = "flights"; },
       "Routes[0]: expected an object"},
      {"route unknown key", [](Json& c) { c["Routes"][0]["Repo"] = "x"; },
       "Routes[0].Repo: unknown field"},
      {"route without repository", [](Json& c) { c["Routes"][0].erase("Repository"); },
       "Routes[0].Repository: missing required field"},
      {"route without backend", [](Json& c) { c["Routes"][0].erase("Backend"); },
       "Routes[0].Backend: missing required field"},
      {"route to unknown backend", [](Json& c) { c["Routes"][1]["Backend"] = "slurm"; },
       "Routes[1].Backend: backend \"slurm\" is not defined in \"Backends\" (local, local-b)"},
      {"allowed not an array", [](Json& c) { c["Routes"][1]["AllowedBackends"] = "local-b"; },
       "Routes[1].AllowedBackends: expected an array of backend names, got string"},
      {"allowed not a string", [](Json& c) { c["Routes"][1]["AllowedBackends"] = {1}; },
       "Routes[1].AllowedBackends[0]: expected a backend name (string), got integer"},
      {"allowed unknown backend",
       [](Json& c) { c["Routes"][1]["AllowedBackends"] = {"local-b", "hpc"}; },
       "Routes[1].AllowedBackends[1]: backend \"hpc\" is not defined"},
      {"empty pattern", [](Json& c) { c["Routes"][0]["Repository"] = ""; },
       "Routes[0].Repository: must not be empty"},
      {"unclosed class", [](Json& c) { c["Routes"][0]["Repository"] = "team-[ab"; },
       "Routes[0].Repository: \"team-[ab\" has a '[' without a closing ']'"},
      {"empty class", [](Json& c) { c["Routes"][0]["Repository"] = "team-[]"; },
       "Routes[0].Repository: \"team-[]\" has an empty [] class"},
      {"reversed range", [](Json& c) { c["Routes"][0]["Repository"] = "team-[z-a]"; },
       "Routes[0].Repository: \"team-[z-a]\" has the invalid range z-a"},
      {"bad pattern character", [](Json& c) { c["Routes"][0]["Repository"] = "team a"; },
       "Routes[0].Repository: \"team a\" contains ' '"},
      {"repeated pattern", [](Json& c) { c["Routes"][2]["Repository"] = "flights"; },
       "Routes[2].Repository: \"flights\" repeats Routes[0], so this route never matches"},
      {"default unknown key", [](Json& c) { c["Default"]["Repository"] = "*"; },
       "Default.Repository: unknown field"},
      {"default to unknown backend", [](Json& c) { c["Default"]["Backend"] = "gone"; },
       "Default.Backend: backend \"gone\" is not defined"},
      {"no routes and no default",
       [](Json& c) {
         c.erase("Routes");
         c.erase("Default");
       },
       "Routes: no routes and no Default"},
      {"unknown slurm option",
       [](Json& c) { c["Backends"]["hpc"] = {{"Type", "slurm"}, {"Partiton", "debug"}}; },
       "Backends.hpc.Partiton: unknown field"},
      {"bad slurm option",
       [](Json& c) { c["Backends"]["hpc"] = {{"Type", "slurm"}, {"Partition", 3}}; },
       "Backends.hpc.Partition"},
  };
}

TEST(RoutingConfig, RejectsEachBadInput) {
  for (const BadCase& bad : BadCases()) {
    SCOPED_TRACE(bad.name);
    Json document = ValidConfig();
    bad.mutate(document);
    Result<RoutingConfig> config = Parse(document);
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(bad.expected));
    EXPECT_THAT(config.error().message(), HasSubstr("routing.json"));
  }
}

TEST(RoutingConfig, LoadReportsMissingFile) {
  Result<RoutingConfig> config =
      LoadRoutingConfig("/nonexistent/routing.json", BackendOptionsValidatorForTypes());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(config.error().message(), HasSubstr("/nonexistent/routing.json"));
}

TEST(RoutingConfig, LoadReportsInvalidJson) {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / "tandem-routing-config-test.json";
  ASSERT_TRUE(WriteFileAtomic(path, "{\"backends\": ", std::filesystem::perms::owner_all));
  Result<RoutingConfig> config = LoadRoutingConfig(path, BackendOptionsValidatorForTypes());
  std::filesystem::remove(path);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(config.error().message(), HasSubstr(path.string() + ": invalid JSON"));
}

TEST(RepositoryGlob, MatchesWholeNames) {
  struct Case {
    std::string pattern;
    std::string repository;
    bool matches;
  };
  std::vector<Case> cases = {
      {"flights", "flights", true},
      {"flights", "flights-2", false},
      {"flights", "team/flights", false},
      {"*", "team/flights", true},
      {"team/*", "team/flights", true},
      {"team/*", "team", false},
      {"team/*", "team/", true},
      {"*/flights", "a/b/flights", true},
      {"*flights*", "old-flights-2", true},
      {"a*b*c", "aXbYbZc", true},
      {"a*b*c", "aXbYbZ", false},
      {"team-?", "team-a", true},
      {"team-?", "team-ab", false},
      {"team-[a-c]", "team-b", true},
      {"team-[a-c]", "team-d", false},
      {"team-[!a-c]", "team-d", true},
      {"team-[!a-c]", "team-a", false},
      {"team-[xy0-9]*", "team-7/x", true},
      {"team-[xy0-9]*", "team-z/x", false},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.pattern + " ~ " + test.repository);
    ASSERT_TRUE(ValidateRepositoryGlob(test.pattern, "pattern"));
    EXPECT_EQ(MatchRepositoryGlob(test.pattern, test.repository), test.matches);
  }
}

TEST(ChooseBackend, ExactName) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "flights", std::nullopt);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "local-b");
  EXPECT_EQ(choice->route, "Routes[0]");
}

TEST(ChooseBackend, GlobPattern) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "team-a/churn", std::nullopt);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "local");
  EXPECT_EQ(choice->route, "Routes[1]");
}

TEST(ChooseBackend, FirstMatchWins) {
  // "team-a/abc" matches routes[1] and routes[2]; the earlier one wins.
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "team-a/abc", std::nullopt);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->route, "Routes[1]");

  Result<RouteChoice> later = ChooseBackend(config, "team-b/abc", std::nullopt);
  ASSERT_TRUE(later) << later.error().message();
  EXPECT_EQ(later->route, "Routes[2]");
  EXPECT_EQ(later->backend, "local-b");
}

TEST(ChooseBackend, DefaultWhenNoRouteMatches) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "team-b/zeta", std::nullopt);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "local");
  EXPECT_EQ(choice->route, "Default");
}

TEST(ChooseBackend, NoRouteAndNoDefault) {
  Json document = ValidConfig();
  document.erase("Default");
  RoutingConfig config = ParseOrDie(document);
  Result<RouteChoice> choice = ChooseBackend(config, "churn", std::nullopt);
  ASSERT_FALSE(choice);
  EXPECT_EQ(choice.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(choice.error().message(),
              HasSubstr("Repository: \"churn\" matches no route and the configuration has no "
                        "default backend"));
}

TEST(ChooseBackend, AllowedRequestedBackend) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "team-a/churn", "local-b");
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "local-b");
  EXPECT_EQ(choice->route, "Routes[1]");
}

TEST(ChooseBackend, RequestedRouteOwnBackend) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "flights", "local-b");
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "local-b");
}

TEST(ChooseBackend, ForbiddenRequestedBackend) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "flights", "local");
  ASSERT_FALSE(choice);
  EXPECT_EQ(choice.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_THAT(choice.error().message(),
              HasSubstr("Backend: repository \"flights\" may not run on backend \"local\": its "
                        "route Routes[0] (\"flights\") sends it to \"local-b\" and allows "
                        "instead: none"));
}

TEST(ChooseBackend, UnknownRequestedBackend) {
  RoutingConfig config = ParseOrDie(ValidConfig());
  Result<RouteChoice> choice = ChooseBackend(config, "team-a/churn", "hpc");
  ASSERT_FALSE(choice);
  EXPECT_EQ(choice.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(choice.error().message(),
              HasSubstr("Backend: \"hpc\" is not a configured backend (local, local-b)"));
}

TEST(ChooseBackend, SingleBackendConfigRoutesEverything) {
  RoutingConfig config = SingleBackendConfig("local", "local");
  Result<RouteChoice> choice = ChooseBackend(config, "any/repository", std::nullopt);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_EQ(choice->backend, "local");
}

}  // namespace
}  // namespace tandem::api
