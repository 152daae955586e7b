#include "common/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>
#include <vector>

#include "common/crypto.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem_file_util_test_" + RandomHex(8));
    fs::create_directories(dir_);
    dir_ = fs::canonical(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(dir_ / "locked", fs::perms::owner_all, ignored);
    fs::remove_all(dir_);
  }
  void Write(const fs::path& path, std::string_view content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  fs::path dir_;
};

TEST_F(FileUtilTest, ReadFileWholeAndBinary) {
  std::string content("line 1\n\0binary\xff", 15);
  Write(dir_ / "a.bin", content);
  Result<std::string> read = ReadFile(dir_ / "a.bin");
  ASSERT_TRUE(read.has_value()) << read.error().message();
  EXPECT_EQ(*read, content);
  Write(dir_ / "empty", "");
  EXPECT_EQ(ReadFile(dir_ / "empty"), "");
}

TEST_F(FileUtilTest, ReadFileMissingIsNotFound) {
  Result<std::string> read = ReadFile(dir_ / "nope.txt");
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(read.error().message(), "file " + (dir_ / "nope.txt").string() + " not found");
}

TEST_F(FileUtilTest, ReadFileDirectoryIsInvalidArgument) {
  Result<std::string> read = ReadFile(dir_);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(read.error().message().find("is a directory"), std::string::npos);
}

TEST_F(FileUtilTest, ReadFileUnreadableIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files regardless of permissions";
  Write(dir_ / "secret", "x");
  fs::permissions(dir_ / "secret", fs::perms::none);
  Result<std::string> read = ReadFile(dir_ / "secret");
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(read.error().message().find("secret"), std::string::npos);
}

TEST_F(FileUtilTest, ReadFilePrefixStopsEarly) {
  Write(dir_ / "failure", std::string(5000, 'e'));
  EXPECT_EQ(ReadFilePrefix(dir_ / "failure", 1024), std::string(1024, 'e'));
  EXPECT_EQ(ReadFilePrefix(dir_ / "failure", 0), "");
  EXPECT_EQ(ReadFilePrefix(dir_ / "failure", 100000), std::string(5000, 'e'));
  Result<std::string> missing = ReadFilePrefix(dir_ / "none", 10);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(FileUtilTest, WriteFileAtomicReplacesAndSetsPerms) {
  fs::path path = dir_ / "config.json";
  ASSERT_TRUE(WriteFileAtomic(path, "old").has_value());
  ASSERT_TRUE(WriteFileAtomic(path, "new content", fs::perms::owner_read | fs::perms::owner_write)
                  .has_value());
  EXPECT_EQ(ReadFile(path), "new content");
  EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  // No temporary file is left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(FileUtilTest, WriteFileAtomicDefaultPerms) {
  fs::path path = dir_ / "model.json";
  ASSERT_TRUE(WriteFileAtomic(path, "{}").has_value());
  EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write |
                                                fs::perms::group_read | fs::perms::others_read);
}

TEST_F(FileUtilTest, WriteFileAtomicMissingDirIsNotFound) {
  Status written = WriteFileAtomic(dir_ / "no" / "such" / "file", "x");
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(written.error().message().find((dir_ / "no" / "such").string()), std::string::npos)
      << written.error().message();
}

TEST_F(FileUtilTest, WriteFileReplacesContent) {
  fs::path path = dir_ / "hyperparameters.json";
  ASSERT_TRUE(WriteFile(path, "a longer first version").has_value());
  ASSERT_TRUE(WriteFile(path, "{}").has_value());
  auto content = ReadFile(path);
  ASSERT_TRUE(content.has_value());
  EXPECT_EQ(*content, "{}");
}

TEST_F(FileUtilTest, WriteFileMissingDirIsNotFound) {
  Status written = WriteFile(dir_ / "no" / "such" / "file", "x");
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(written.error().message().find((dir_ / "no" / "such" / "file").string()),
            std::string::npos)
      << written.error().message();
}

TEST_F(FileUtilTest, ConcurrentWritersLeaveOneVersion) {
  fs::path path = dir_ / "state";
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&path, w] {
      std::string content(10000, static_cast<char>('a' + w));
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(WriteFileAtomic(path, content).has_value());
    });
  }
  for (auto& writer : writers) writer.join();
  Result<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.has_value());
  ASSERT_EQ(read->size(), 10000u);
  EXPECT_EQ(read->find_first_not_of(read->front()), std::string::npos);
}

TEST_F(FileUtilTest, CreateDirectoriesNestedAndExisting) {
  fs::path path = dir_ / "a" / "b" / "c";
  ASSERT_TRUE(CreateDirectories(path).has_value());
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_TRUE(CreateDirectories(path).has_value());
}

TEST_F(FileUtilTest, CreateDirectoriesOverFileIsAlreadyExists) {
  Write(dir_ / "file", "x");
  Status created = CreateDirectories(dir_ / "file" / "sub");
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(created.error().message().find("file"), std::string::npos);
}

TEST_F(FileUtilTest, CreateDirectoriesNoPermission) {
  if (::geteuid() == 0) GTEST_SKIP() << "root creates directories regardless of permissions";
  fs::create_directories(dir_ / "locked");
  fs::permissions(dir_ / "locked", fs::perms::owner_read | fs::perms::owner_exec);
  Status created = CreateDirectories(dir_ / "locked" / "sub");
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(FileUtilTest, ConfinePathInside) {
  fs::create_directories(dir_ / "data");
  EXPECT_EQ(ConfinePath(dir_, "data/train.csv"), dir_ / "data" / "train.csv");
  EXPECT_EQ(ConfinePath(dir_, "data/../data/./x"), dir_ / "data" / "x");
  EXPECT_EQ(ConfinePath(dir_, dir_ / "data"), dir_ / "data");
  EXPECT_EQ(ConfinePath(dir_, "."), dir_);
  EXPECT_EQ(ConfinePath(dir_, "new/deeper/file"), dir_ / "new" / "deeper" / "file");
}

TEST_F(FileUtilTest, ConfinePathRejectsEscapes) {
  fs::create_directories(dir_ / "root");
  fs::create_directories(dir_ / "rootsibling");
  fs::create_symlink(dir_, dir_ / "root" / "link_out");
  fs::path root = dir_ / "root";
  for (const fs::path& user_path :
       {fs::path(".."), fs::path("../rootsibling/x"), fs::path("/etc/passwd"),
        fs::path("link_out/rootsibling"), fs::path("missing/../../x"),
        fs::path(dir_ / "rootsibling")}) {
    Result<fs::path> confined = ConfinePath(root, user_path);
    ASSERT_FALSE(confined.has_value()) << user_path;
    EXPECT_EQ(confined.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(confined.error().message(),
              "path " + user_path.string() + " is outside " + root.string());
  }
}

TEST_F(FileUtilTest, ConfinePathSymlinkInsideIsAllowed) {
  fs::create_directories(dir_ / "real");
  fs::create_symlink(dir_ / "real", dir_ / "alias");
  EXPECT_EQ(ConfinePath(dir_, "alias/f"), dir_ / "real" / "f");
}

TEST_F(FileUtilTest, ConfinePathMissingRootIsNotFound) {
  Result<fs::path> confined = ConfinePath(dir_ / "absent", "x");
  ASSERT_FALSE(confined.has_value());
  EXPECT_EQ(confined.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(confined.error().message().find("absent"), std::string::npos);
}

}  // namespace
}  // namespace tandem
