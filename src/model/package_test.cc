#include "model/package.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "model/test_util.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::ScratchDir;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ModelManifest SampleManifest() {
  ModelManifest manifest;
  manifest.model_name = "tiny";
  manifest.objective = "reg:squarederror";
  auto pipeline = FeaturePipeline::FromJson(
      Json::parse(R"({"Label": "y", "Features": [{"Field": "x", "Kind": "numeric"}]})"),
      "FeaturePipeline");
  EXPECT_TRUE(pipeline) << pipeline.error().message();
  manifest.feature_pipeline = *pipeline;
  manifest.input_schema = pipeline->InputSchema();
  manifest.feature_names = pipeline->FeatureNames();
  return manifest;
}

// Writes a package directory with a manifest and a stand-in model file.
void WritePackage(const fs::path& dir) {
  fs::create_directories(dir);
  ASSERT_TRUE(WriteManifest(dir, SampleManifest()));
  std::ofstream(dir / "model.json") << R"({"learner": {}})";
}

// One entry of a hand-made tar archive.
struct CraftedEntry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string data;
  std::string link;  // symlink target or hard link source
};

// Writes a ustar archive holding exactly `entries`, unchecked.
void WriteCraftedTar(const fs::path& path, const std::vector<CraftedEntry>& entries) {
  archive* out = archive_write_new();
  ASSERT_EQ(archive_write_set_format_pax_restricted(out), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_filename(out, path.c_str()), ARCHIVE_OK);
  for (const CraftedEntry& crafted : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, crafted.name.c_str());
    archive_entry_set_filetype(entry, crafted.type);
    archive_entry_set_perm(entry, 0644);
    if (crafted.type == AE_IFLNK) archive_entry_set_symlink(entry, crafted.link.c_str());
    if (crafted.type == AE_IFCHR) archive_entry_set_rdev(entry, makedev(1, 3));
    if (!crafted.link.empty() && crafted.type == AE_IFREG) {
      archive_entry_set_hardlink(entry, crafted.link.c_str());
    }
    archive_entry_set_size(entry, static_cast<la_int64_t>(crafted.data.size()));
    ASSERT_EQ(archive_write_header(out, entry), ARCHIVE_OK) << archive_error_string(out);
    if (!crafted.data.empty()) {
      archive_write_data(out, crafted.data.data(), crafted.data.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(out);
  archive_write_free(out);
}

TEST(PackageTest, ArchiveAndExtractRoundTrip) {
  ScratchDir scratch;
  fs::path source = scratch.path() / "pkg";
  WritePackage(source);
  fs::create_directories(source / "extra");
  std::ofstream(source / "extra" / "notes.txt") << "trained on a laptop";

  auto info = ArchivePackage(source, scratch.path() / "pkg.tar");
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_THAT(info->digest, MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(info->size_bytes, fs::file_size(scratch.path() / "pkg.tar"));

  fs::path dest = scratch.path() / "out";
  Status extracted = ExtractPackage(scratch.path() / "pkg.tar", dest);
  ASSERT_TRUE(extracted) << extracted.error().message();
  EXPECT_EQ(Slurp(dest / "manifest.json"), Slurp(source / "manifest.json"));
  EXPECT_EQ(Slurp(dest / "model.json"), Slurp(source / "model.json"));
  EXPECT_EQ(Slurp(dest / "extra" / "notes.txt"), "trained on a laptop");

  auto loaded = LoadPackage(dest);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->manifest.model_name, "tiny");
  EXPECT_EQ(loaded->model_path, dest / "model.json");
}

TEST(PackageTest, ArchiveIsDeterministic) {
  ScratchDir scratch;
  fs::path source = scratch.path() / "pkg";
  WritePackage(source);
  auto first = ArchivePackage(source, scratch.path() / "a.tar");
  ASSERT_TRUE(first);
  // Same content, different modification time and a fresh copy of the directory.
  fs::path copy = scratch.path() / "copy";
  fs::copy(source, copy, fs::copy_options::recursive);
  fs::last_write_time(copy / "model.json", fs::file_time_type::clock::now() - std::chrono::hours(5));
  auto second = ArchivePackage(copy, scratch.path() / "b.tar");
  ASSERT_TRUE(second);
  EXPECT_EQ(first->digest, second->digest);
  EXPECT_EQ(first->size_bytes, second->size_bytes);
}

TEST(PackageTest, ArchiveRejectsSymlink) {
  ScratchDir scratch;
  fs::path source = scratch.path() / "pkg";
  WritePackage(source);
  fs::create_symlink("/etc/hostname", source / "link");
  auto info = ArchivePackage(source, scratch.path() / "pkg.tar");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(info.error().message(), HasSubstr("package entry link"));
}

TEST(PackageTest, ArchiveOfMissingDirectoryIsNotFound) {
  ScratchDir scratch;
  auto info = ArchivePackage(scratch.path() / "absent", scratch.path() / "pkg.tar");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kNotFound);
}

TEST(PackageTest, ExtractRejectsParentTraversal) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "evil.tar";
  WriteCraftedTar(tar, {{"manifest.json", AE_IFREG, "{}"}, {"../evil", AE_IFREG, "x"}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "package entry \"../evil\" has a \"..\" component");
  EXPECT_FALSE(fs::exists(scratch.path() / "evil"));
}

TEST(PackageTest, ExtractRejectsNestedParentTraversal) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "evil.tar";
  WriteCraftedTar(tar, {{"a/../../evil", AE_IFREG, "x"}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("\"a/../../evil\""));
}

TEST(PackageTest, ExtractRejectsAbsolutePath) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "abs.tar";
  WriteCraftedTar(tar, {{"/tmp/evil", AE_IFREG, "x"}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message(), "package entry \"/tmp/evil\" has an absolute path");
}

TEST(PackageTest, ExtractRejectsSymlink) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "link.tar";
  WriteCraftedTar(tar, {{"model.json", AE_IFLNK, "", "/etc/passwd"}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(),
              HasSubstr("package entry \"model.json\" is a symbolic link"));
}

TEST(PackageTest, ExtractRejectsHardLink) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "hard.tar";
  WriteCraftedTar(tar, {{"a", AE_IFREG, "x"}, {"b", AE_IFREG, "", "a"}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("package entry \"b\" is a hard link"));
}

TEST(PackageTest, ExtractRejectsDevice) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "dev.tar";
  WriteCraftedTar(tar, {{"null", AE_IFCHR, ""}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("package entry \"null\" is a device"));
}

TEST(PackageTest, ExtractRejectsDuplicateEntry) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "dup.tar";
  WriteCraftedTar(tar, {{"model.json", AE_IFREG, "1"}, {"model.json", AE_IFREG, "2"}});
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("package entry \"model.json\" appears twice"));
}

TEST(PackageTest, ExtractEnforcesSizeCap) {
  ScratchDir scratch;
  fs::path tar = scratch.path() / "big.tar";
  WriteCraftedTar(tar, {{"a", AE_IFREG, std::string(600, 'a')}, {"b", AE_IFREG, std::string(600, 'b')}});
  Status status = ExtractPackage(tar, scratch.path() / "out", 1000);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_THAT(status.error().message(), HasSubstr("limit of 1000 bytes"));
  EXPECT_THAT(status.error().message(), HasSubstr("\"b\""));
  ASSERT_TRUE(ExtractPackage(tar, scratch.path() / "out2", 1200));
}

TEST(PackageTest, ExtractOfMissingArchiveIsNotFound) {
  ScratchDir scratch;
  Status status = ExtractPackage(scratch.path() / "absent.tar", scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
}

TEST(PackageTest, ExtractOfGarbageIsInvalid) {
  ScratchDir scratch;
  fs::path tar = scratch.Write("garbage.tar", std::string(2000, 'z'));
  Status status = ExtractPackage(tar, scratch.path() / "out");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.error().message(), HasSubstr("garbage.tar"));
}

TEST(PackageTest, LoadWithoutManifestIsNotFound) {
  ScratchDir scratch;
  auto loaded = LoadPackage(scratch.path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(loaded.error().message(), HasSubstr("has no manifest.json"));
}

TEST(PackageTest, LoadWithoutModelFileIsNotFound) {
  ScratchDir scratch;
  ASSERT_TRUE(WriteManifest(scratch.path(), SampleManifest()));
  auto loaded = LoadPackage(scratch.path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(loaded.error().message(), HasSubstr("model file model.json"));
}

TEST(PackageTest, LoadWithInvalidManifestNamesFile) {
  ScratchDir scratch;
  WritePackage(scratch.path());
  Json json = SampleManifest().ToJson();
  json["Framework"] = "onnx";
  scratch.Write("manifest.json", json.dump());
  auto loaded = LoadPackage(scratch.path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(loaded.error().message(),
            fmt::format("{}: Framework: unsupported framework \"onnx\", expected xgboost",
                        (scratch.path() / "manifest.json").string()));
}

}  // namespace
}  // namespace tandem::model
