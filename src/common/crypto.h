// Hashing and randomness over OpenSSL 3 (EVP and RAND). Thread-safe.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem {

// Returns the SHA-256 digest of `data` as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

// Returns the SHA-256 digest of the file's content, read in blocks so large
// files need little memory. Errors: kNotFound when missing, kInternal on I/O failure.
Result<std::string> Sha256FileHex(const std::filesystem::path& path);

// Returns the HMAC-SHA256 (RFC 2104) of `data` under `key` as 64 lower-case
// hex digits.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Returns `bytes` cryptographically random bytes (RAND_bytes) as 2*bytes
// lower-case hex digits. Aborts the process if the system's random source fails,
// because no caller could continue safely without it.
std::string RandomHex(size_t bytes);

// Compares in time that depends only on the lengths, for tokens and digests.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace tandem
