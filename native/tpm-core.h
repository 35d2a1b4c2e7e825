// TPM access shared by the OpenSSL engine (synchronous, inside a TLS handshake) and the
// asynchronous N-API calls (thread pool). One mutex serialises every TPM command: a TPM runs one
// command at a time anyway, and swtpm or a chip without a resource manager serves one client.
#pragma once

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace tlssh {

using Bytes = std::vector<uint8_t>;

// A failed operation. `op` names what failed ("TPM2_Load of /path/key"), `rc` is the TSS2_RC
// (0 when the failure is not a TPM response), `errnum` an errno where one explains it, and `code`
// a TLSSH_ERR_* code when the failure was already classified (by the key agent). The TypeScript
// facade turns this into a TlsshError with advice.
struct TpmFailure : std::runtime_error {
  std::string op;
  uint32_t rc = 0;
  int errnum = 0;
  std::string code;
  std::string tcti;
  TpmFailure(std::string op_, uint32_t rc_, std::string detail, int errnum_ = 0, std::string code_ = "")
      : std::runtime_error(detail), op(std::move(op_)), rc(rc_), errnum(errnum_), code(std::move(code_)) {}
};

// Everything needed to load a key: the blobs from the key file, where its parent is, the
// passwords. Passwords are wiped when the config is replaced or removed.
struct KeyConfig {
  std::string tcti;
  uint32_t parent = 0x40000001;
  Bytes parentAuth;
  Bytes keyAuth;
  Bytes pub;   // marshalled TPM2B_PUBLIC
  Bytes priv;  // marshalled TPM2B_PRIVATE
  std::string agentPath;  // non-empty: private operations are asked of the key agent
};

// The public half of a configured key, as the engine needs it to build an EVP_PKEY.
struct PublicInfo {
  uint16_t type = 0;      // TPM2_ALG_ECC or TPM2_ALG_RSA
  uint16_t curve = 0;     // TPM2_ECC_NIST_P256 ...
  Bytes x, y;             // ECC point
  Bytes n;                // RSA modulus
  uint32_t exponent = 0;  // RSA exponent (0 in the TPM means 65537)
};

void wipe(Bytes& b);

// Registry of configured keys, keyed by the identifier Node passes as privateKeyIdentifier.
void configureKey(const std::string& id, KeyConfig cfg);
void removeKey(const std::string& id);
// Throws TpmFailure when the id is unknown or its public part unparsable; agentPath receives
// the key agent's socket path when private operations go there.
PublicInfo publicInfo(const std::string& id, std::string* agentPath = nullptr);

// Private operations. Each reconnects and reloads once after a transport error or a lost object.
Bytes ecdsaSign(const std::string& id, const Bytes& digest);    // DER ECDSA-Sig-Value
Bytes rsaPrivate(const std::string& id, const Bytes& input);    // raw m^d mod n, modulus-sized
// keepParent: a primary made for the key stays loaded until the key is flushed (flushAll), and a
// failure is remembered so that the engine's signature fails with it rather than loading again.
// context: a blob from saveKeyContext, tried first (TPM2_ContextLoad, one command instead of
// CreatePrimary + Load); returns whether the key came from it.
bool loadKey(const std::string& id, bool keepParent = false, const Bytes& context = {});
// TPM2_ContextSave of the loaded key, for a later loadKey in another process.
Bytes saveKeyContext(const std::string& id);

// Key creation under a parent: returns marshalled TPM2B_PUBLIC and TPM2B_PRIVATE.
struct CreatedKey {
  Bytes pub;
  Bytes priv;
};
CreatedKey createKey(const std::string& tcti, uint32_t parent, Bytes parentAuth, Bytes keyAuth,
                     const Bytes& publicTemplate);
// TPM2_Import of a plain (unwrapped) duplicate: returns the marshalled TPM2B_PRIVATE.
Bytes importKey(const std::string& tcti, uint32_t parent, Bytes parentAuth, const Bytes& pub,
                Bytes sensitive);

// The dictionary-attack state, so a wrong password can be told how many more failures the TPM
// allows before it locks out.
struct LockoutInfo {
  uint32_t counter = 0;   // TPM_PT_LOCKOUT_COUNTER: failures counted so far
  uint32_t maxTries = 0;  // TPM_PT_MAX_AUTH_FAIL: failures that lock the TPM out
};
LockoutInfo lockoutInfo(const std::string& tcti);

// Flushes every loaded object and closes every TPM connection.
void flushAll();

}  // namespace tlssh
