// The OpenSSL ENGINE "tpm" registered in Node's own OpenSSL, so that TLS contexts made with
// { privateKeyEngine: 'tpm', privateKeyIdentifier: <key file> } sign inside the TPM (or through
// the key agent). Keys must be configured (configureKey) before a context names them.
#pragma once

#include <optional>
#include <string>

#include "tpm-core.h"

namespace tlssh {

constexpr const char* kEngineId = "tpm";

// Idempotent: a second load of the addon (another worker thread) finds the engine already there.
// Returns false with a reason when OpenSSL refuses.
bool registerEngine(std::string& why);

// The last failure inside an engine callback, for the TLS layer to report it cleanly instead of
// OpenSSL's error queue; taking it clears it.
struct EngineFailure {
  std::string keyId;
  TpmFailure failure;
};
std::optional<EngineFailure> takeEngineFailure();

}  // namespace tlssh
