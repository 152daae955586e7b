#include "common/crypto.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace tandem {
namespace {

// Digests from FIPS 180-2 examples and `sha256sum`.
TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string_view("a\0b", 3)), Sha256Hex(std::string("a\0b", 3)));
}

class Sha256FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem_crypto_test_" + RandomHex(8));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(Sha256FileTest, MatchesInMemoryDigest) {
  // Larger than one read block, and not a multiple of it.
  std::string content;
  for (int i = 0; i < 200000; ++i) content += static_cast<char>('a' + i % 26);
  std::filesystem::path path = dir_ / "data.bin";
  std::ofstream(path, std::ios::binary) << content;
  Result<std::string> digest = Sha256FileHex(path);
  ASSERT_TRUE(digest.has_value()) << digest.error().message();
  EXPECT_EQ(*digest, Sha256Hex(content));

  std::ofstream(dir_ / "empty", std::ios::binary).flush();
  EXPECT_EQ(Sha256FileHex(dir_ / "empty"), Sha256Hex(""));
}

TEST_F(Sha256FileTest, MissingFileIsNotFound) {
  Result<std::string> digest = Sha256FileHex(dir_ / "missing.bin");
  ASSERT_FALSE(digest.has_value());
  EXPECT_EQ(digest.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(digest.error().message().find("missing.bin"), std::string::npos);
}

TEST_F(Sha256FileTest, DirectoryIsInvalidArgument) {
  Result<std::string> digest = Sha256FileHex(dir_);
  ASSERT_FALSE(digest.has_value());
  EXPECT_EQ(digest.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(digest.error().message().find(dir_.string()), std::string::npos);
}

// RFC 4231, test case 2.
TEST(HmacSha256Test, KnownMac) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(RandomHexTest, LengthAndUniqueness) {
  EXPECT_EQ(RandomHex(0), "");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string value = RandomHex(16);
    ASSERT_EQ(value.size(), 32u);
    EXPECT_EQ(value.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(value);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("token-123", "token-123"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "token-124"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "token-12"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

}  // namespace
}  // namespace tandem
