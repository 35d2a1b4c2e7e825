#include "engine.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_tpm2_types.h>

#include <cstring>
#include <mutex>
#include <set>

#include "agent-client.h"

namespace tlssh {
namespace {

std::mutex g_engineMu;
bool g_registered = false;
EC_KEY_METHOD* g_ecMethod = nullptr;
RSA_METHOD* g_rsaMethod = nullptr;
int g_ecIndex = -1;
int g_rsaIndex = -1;

// Key identifiers referenced from EC_KEY/RSA ex_data. They are never freed: OpenSSL may copy
// ex_data pointers between key objects, and the set stays as small as the number of key files.
std::set<std::string> g_ids;

std::mutex g_failureMu;
std::optional<EngineFailure> g_failure;

const std::string* intern(const std::string& id) {
  std::lock_guard<std::mutex> lock(g_engineMu);
  return &*g_ids.insert(id).first;
}

void remember(const std::string& id, const TpmFailure& f) {
  std::lock_guard<std::mutex> lock(g_failureMu);
  g_failure = EngineFailure{id, f};
}

void rememberOther(const std::string& id, const std::string& op, const std::string& what) {
  remember(id, TpmFailure(op, 0, what));
}

Bytes privateOp(const std::string& id, uint8_t op, const Bytes& input) {
  std::string agentPath;
  publicInfo(id, &agentPath);
  if (!agentPath.empty()) return agentRequest(agentPath, op, id, input);
  return op == kAgentOpEcdsaSign ? ecdsaSign(id, input) : rsaPrivate(id, input);
}

int ecSign(int, const unsigned char* dgst, int dlen, unsigned char* sig, unsigned int* siglen, const BIGNUM*,
           const BIGNUM*, EC_KEY* ec) {
  auto id = static_cast<const std::string*>(EC_KEY_get_ex_data(ec, g_ecIndex));
  if (!id) return 0;
  try {
    Bytes der = privateOp(*id, kAgentOpEcdsaSign, Bytes(dgst, dgst + dlen));
    if (der.size() > static_cast<size_t>(ECDSA_size(ec))) {
      rememberOther(*id, "TPM2_Sign with " + *id, "signature larger than the curve allows");
      return 0;
    }
    memcpy(sig, der.data(), der.size());
    *siglen = static_cast<unsigned int>(der.size());
    return 1;
  } catch (const TpmFailure& f) {
    remember(*id, f);
  } catch (const std::exception& e) {
    rememberOther(*id, "TPM2_Sign with " + *id, e.what());
  }
  return 0;
}

ECDSA_SIG* ecSignSig(const unsigned char* dgst, int dlen, const BIGNUM*, const BIGNUM*, EC_KEY* ec) {
  auto id = static_cast<const std::string*>(EC_KEY_get_ex_data(ec, g_ecIndex));
  if (!id) return nullptr;
  try {
    Bytes der = privateOp(*id, kAgentOpEcdsaSign, Bytes(dgst, dgst + dlen));
    const unsigned char* p = der.data();
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    if (!s) {
      ERR_clear_error();
      rememberOther(*id, "TPM2_Sign with " + *id, "malformed signature");
    }
    return s;
  } catch (const TpmFailure& f) {
    remember(*id, f);
  } catch (const std::exception& e) {
    rememberOther(*id, "TPM2_Sign with " + *id, e.what());
  }
  return nullptr;
}

// OpenSSL pads (PKCS#1 v1.5 or PSS) and hands over a modulus-sized block; the TPM applies the raw
// private exponent (TPM2_RSA_Decrypt with the null scheme).
int rsaPrivEnc(int flen, const unsigned char* from, unsigned char* to, RSA* rsa, int padding) {
  auto id = static_cast<const std::string*>(RSA_get_ex_data(rsa, g_rsaIndex));
  if (!id) return -1;
  int n = RSA_size(rsa);
  Bytes block(static_cast<size_t>(n));
  if (padding == RSA_NO_PADDING) {
    if (flen != n) return -1;
    memcpy(block.data(), from, static_cast<size_t>(n));
  } else if (padding == RSA_PKCS1_PADDING) {
    if (RSA_padding_add_PKCS1_type_1(block.data(), n, from, flen) != 1) {
      ERR_clear_error();
      return -1;
    }
  } else {
    rememberOther(*id, "RSA signing with " + *id, "unsupported padding mode " + std::to_string(padding));
    return -1;
  }
  try {
    Bytes out = privateOp(*id, kAgentOpRsaPrivate, block);
    if (out.size() != static_cast<size_t>(n)) return -1;
    memcpy(to, out.data(), out.size());
    return n;
  } catch (const TpmFailure& f) {
    remember(*id, f);
  } catch (const std::exception& e) {
    rememberOther(*id, "TPM2_RSA_Decrypt with " + *id, e.what());
  }
  return -1;
}

int rsaPrivDec(int flen, const unsigned char* from, unsigned char* to, RSA* rsa, int padding) {
  auto id = static_cast<const std::string*>(RSA_get_ex_data(rsa, g_rsaIndex));
  if (!id) return -1;
  int n = RSA_size(rsa);
  if (flen > n) return -1;
  try {
    Bytes raw = privateOp(*id, kAgentOpRsaPrivate, Bytes(from, from + flen));
    if (raw.size() != static_cast<size_t>(n)) return -1;
    int r = -1;
    if (padding == RSA_NO_PADDING) {
      memcpy(to, raw.data(), raw.size());
      r = n;
    } else if (padding == RSA_PKCS1_PADDING) {
      r = RSA_padding_check_PKCS1_type_2(to, n, raw.data(), n, n);
    } else if (padding == RSA_PKCS1_OAEP_PADDING) {
      r = RSA_padding_check_PKCS1_OAEP(to, n, raw.data(), n, n, nullptr, 0);
    }
    explicit_bzero(raw.data(), raw.size());
    if (r < 0) ERR_clear_error();
    return r;
  } catch (const TpmFailure& f) {
    remember(*id, f);
  } catch (const std::exception& e) {
    rememberOther(*id, "TPM2_RSA_Decrypt with " + *id, e.what());
  }
  return -1;
}

int curveNid(uint16_t curve) {
  switch (curve) {
    case TPM2_ECC_NIST_P256: return NID_X9_62_prime256v1;
    case TPM2_ECC_NIST_P384: return NID_secp384r1;
    case TPM2_ECC_NIST_P521: return NID_secp521r1;
    default: return NID_undef;
  }
}

BIGNUM* bn(const Bytes& b) { return BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr); }

// Builds a public-only EVP_PKEY whose key object carries our method. Setting the method before
// EVP_PKEY_assign marks the key "foreign", which keeps OpenSSL 3 on the legacy path that calls
// the method instead of exporting the (absent) private key to a provider.
EVP_PKEY* buildKey(const std::string& idStr) {
  const std::string* id = intern(idStr);
  std::string op = "loading TPM key " + idStr + " into OpenSSL";
  PublicInfo info = publicInfo(*id);
  EVP_PKEY* pkey = EVP_PKEY_new();
  if (!pkey) throw TpmFailure(op, 0, "out of memory");
  if (info.type == TPM2_ALG_ECC) {
    int nid = curveNid(info.curve);
    if (nid == NID_undef) {
      EVP_PKEY_free(pkey);
      throw TpmFailure(op, 0, "unsupported curve", 0, "TLSSH_ERR_TPM_KEY_ATTRIBUTES");
    }
    EC_KEY* ec = EC_KEY_new_by_curve_name(nid);
    BIGNUM* x = bn(info.x);
    BIGNUM* y = bn(info.y);
    bool ok = ec && x && y && EC_KEY_set_public_key_affine_coordinates(ec, x, y) == 1 &&
              EC_KEY_set_method(ec, g_ecMethod) == 1 && EC_KEY_set_ex_data(ec, g_ecIndex, (void*)id) == 1 &&
              EVP_PKEY_assign_EC_KEY(pkey, ec) == 1;
    BN_free(x);
    BN_free(y);
    if (!ok) {
      if (ec && EVP_PKEY_get0_EC_KEY(pkey) != ec) EC_KEY_free(ec);
      EVP_PKEY_free(pkey);
      throw TpmFailure(op, 0, "the public key in the key file is not a valid point", 0, "TLSSH_ERR_TPM_KEY_FILE");
    }
    return pkey;
  }
  RSA* rsa = RSA_new();
  BIGNUM* n = bn(info.n);
  BIGNUM* e = BN_new();
  bool ok = rsa && n && e && BN_set_word(e, info.exponent ? info.exponent : 65537) == 1 &&
            RSA_set0_key(rsa, n, e, nullptr) == 1;
  if (!ok) {
    BN_free(n);
    BN_free(e);
    RSA_free(rsa);
    EVP_PKEY_free(pkey);
    throw TpmFailure(op, 0, "the RSA public key in the key file is unusable", 0, "TLSSH_ERR_TPM_KEY_FILE");
  }
  ok = RSA_set_method(rsa, g_rsaMethod) == 1 && RSA_set_ex_data(rsa, g_rsaIndex, (void*)id) == 1 &&
       EVP_PKEY_assign_RSA(pkey, rsa) == 1;
  if (!ok) {
    RSA_free(rsa);
    EVP_PKEY_free(pkey);
    throw TpmFailure(op, 0, "OpenSSL refused the RSA key");
  }
  return pkey;
}

EVP_PKEY* loadPrivkey(ENGINE*, const char* keyId, UI_METHOD*, void*) {
  std::string id = keyId ? keyId : "";
  try {
    return buildKey(id);
  } catch (const TpmFailure& f) {
    remember(id, f);
  } catch (const std::exception& e) {
    rememberOther(id, "loading TPM key " + id, e.what());
  }
  ERR_clear_error();
  return nullptr;
}

}  // namespace

std::optional<EngineFailure> takeEngineFailure() {
  std::lock_guard<std::mutex> lock(g_failureMu);
  auto f = std::move(g_failure);
  g_failure.reset();
  return f;
}

bool registerEngine(std::string& why) {
  std::lock_guard<std::mutex> lock(g_engineMu);
  if (g_registered) return true;
  ENGINE* existing = ENGINE_by_id(kEngineId);
  ERR_clear_error();
  if (existing) {
    ENGINE_free(existing);
    why = "another OpenSSL engine with id \"tpm\" is already registered in this process";
    return false;
  }
  g_ecIndex = EC_KEY_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  g_rsaIndex = RSA_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  g_ecMethod = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
  g_rsaMethod = RSA_meth_dup(RSA_PKCS1_OpenSSL());
  if (g_ecIndex < 0 || g_rsaIndex < 0 || !g_ecMethod || !g_rsaMethod) {
    why = "OpenSSL could not allocate the key methods";
    ERR_clear_error();
    return false;
  }
  EC_KEY_METHOD_set_sign(g_ecMethod, ecSign, nullptr, ecSignSig);
  RSA_meth_set1_name(g_rsaMethod, "tlssh TPM RSA");
  RSA_meth_set_priv_enc(g_rsaMethod, rsaPrivEnc);
  RSA_meth_set_priv_dec(g_rsaMethod, rsaPrivDec);
  RSA_meth_set_flags(g_rsaMethod, RSA_meth_get_flags(g_rsaMethod) | RSA_FLAG_EXT_PKEY);

  ENGINE* e = ENGINE_new();
  // ENGINE_set_id and ENGINE_set_name keep the pointers: static strings only.
  static const char kName[] = "tlssh TPM 2.0 keys";
  bool ok = e && ENGINE_set_id(e, kEngineId) == 1 && ENGINE_set_name(e, kName) == 1 &&
            ENGINE_set_load_privkey_function(e, loadPrivkey) == 1 && ENGINE_add(e) == 1;
  if (e) ENGINE_free(e);  // the engine list keeps its own reference
  ERR_clear_error();
  if (!ok) {
    why = "OpenSSL refused to register the engine";
    return false;
  }
  g_registered = true;
  return true;
}

}  // namespace tlssh
