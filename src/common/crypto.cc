#include "common/crypto.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

namespace tandem {
namespace {

std::string ToHex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return hex;
}

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;

// Any failure here means OpenSSL itself is broken (out of memory, no SHA-256
// provider); nothing sensible can continue, so the process aborts.
[[noreturn]] void DieOnOpenSslFailure(const char* call) {
  spdlog::critical("OpenSSL call failed call={}", call);
  std::abort();
}

DigestContext NewSha256Context() {
  DigestContext context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    DieOnOpenSslFailure("EVP_DigestInit_ex");
  }
  return context;
}

std::string FinishHex(EVP_MD_CTX* context) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context, digest.data(), &size) != 1) {
    DieOnOpenSslFailure("EVP_DigestFinal_ex");
  }
  return ToHex(digest.data(), size);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  DigestContext context = NewSha256Context();
  if (EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1) {
    DieOnOpenSslFailure("EVP_DigestUpdate");
  }
  return FinishHex(context.get());
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  size_t size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
                mac.size(), &size) == nullptr) {
    DieOnOpenSslFailure("EVP_Q_mac");
  }
  return ToHex(mac.data(), size);
}

Result<std::string> Sha256FileHex(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return NotFound(fmt::format("file {} not found", path.string()));
  }
  if (std::filesystem::is_directory(path, error)) {
    return InvalidArgument(fmt::format("{} is a directory, expected a file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Internal(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  }

  DigestContext context = NewSha256Context();
  std::vector<char> block(1 << 16);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    std::streamsize count = in.gcount();
    if (count > 0 && EVP_DigestUpdate(context.get(), block.data(), size_t(count)) != 1) {
      DieOnOpenSslFailure("EVP_DigestUpdate");
    }
  }
  if (in.bad()) {
    return Internal(fmt::format("failed reading {}: {}", path.string(), std::strerror(errno)));
  }
  return FinishHex(context.get());
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (bytes > 0 && RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) {
    DieOnOpenSslFailure("RAND_bytes");
  }
  return ToHex(buffer.data(), bytes);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tandem
