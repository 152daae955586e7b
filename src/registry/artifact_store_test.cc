#include "registry/artifact_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/crypto.h"

namespace tandem::registry {
namespace {

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("tandem-artifacts-" + RandomHex(6));
    auto store = OpenLocalArtifactStore(root_);
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::filesystem::path root_;
  std::unique_ptr<ArtifactStore> store_;
};

TEST_F(ArtifactStoreTest, PutThenGetReturnsSameBytes) {
  auto info = store_->Put("model bytes");
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->digest, "sha256:" + Sha256Hex("model bytes"));
  EXPECT_EQ(info->size_bytes, 11);
  auto bytes = store_->Get(info->digest);
  ASSERT_TRUE(bytes) << bytes.error().message();
  EXPECT_EQ(*bytes, "model bytes");
}

TEST_F(ArtifactStoreTest, PutTwiceKeepsOneCopy) {
  auto first = store_->Put("same");
  auto second = store_->Put("same");
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->digest, second->digest);
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_)) {
    files += entry.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(ArtifactStoreTest, UnknownDigestIsNotFound) {
  auto bytes = store_->Get("sha256:" + std::string(64, 'a'));
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code(), ErrorCode::kNotFound);
}

TEST_F(ArtifactStoreTest, MalformedDigestsAreRejected) {
  for (const char* digest : {"", "sha256:", "md5:abcd", "sha256:../../etc/passwd",
                             "sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000"}) {
    auto path = store_->PathOf(digest);
    ASSERT_FALSE(path) << digest;
    EXPECT_EQ(path.error().code(), ErrorCode::kInvalidArgument) << digest;
    EXPECT_NE(path.error().message().find("invalid"), std::string::npos);
  }
}

}  // namespace
}  // namespace tandem::registry
