#include "tpm-core.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>

namespace tlssh {
namespace {

// Timed so that flushAll() at exit can give up on a command stuck on a TPM that stopped answering.
std::timed_mutex g_mu;
// Guards the key registry's configs against configureKey/removeKey while the engine reads a key's
// public part: publicInfo must not wait for g_mu, which an early load on the thread pool holds
// while the TLS handshake that needs the public part is being set up.
std::mutex g_cfgMu;

struct Conn {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  ESYS_CONTEXT* esys = nullptr;
  uint64_t gen = 0;
};
std::map<std::string, Conn> g_conns;
uint64_t g_nextGen = 1;

struct KeyState {
  KeyConfig cfg;
  ESYS_TR handle = ESYS_TR_NONE;
  uint64_t gen = 0;  // connection generation the handle belongs to
  // A primary parent kept loaded next to the key (loadKey's keepParent): the client flushes both
  // after its one signature, so flushing the parent right after TPM2_Load would only add a TPM
  // command in front of the handshake. Same generation as handle.
  ESYS_TR parent = ESYS_TR_NONE;
  bool keepParent = false;
  // Why the last early load (loadKey with keepParent) failed: a signature inside the handshake
  // then fails with it instead of loading again, which would try a wrong parent password twice.
  std::optional<TpmFailure> loadFailure;
  // A saved context of this very key (TPM2_ContextSave, from an earlier login), tried once by the
  // next load instead of CreatePrimary + Load. The TPM checks its integrity with a key that
  // changes at every TPM Reset and exists in no other TPM; one that does not load is ignored.
  Bytes context;
  bool fromContext = false;  // the loaded handle came from `context`
};
std::map<std::string, KeyState> g_keys;

constexpr uint32_t kOwnerParent = 0x40000001;  // TPM2_RH_OWNER: primary made on the fly

// The TPM's own response code with the layer stripped, or 0 when rc came from the software stack.
uint32_t tpmCode(uint32_t rc) {
  uint32_t layer = rc & TSS2_RC_LAYER_MASK;
  if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER) return 0;
  uint32_t code = rc & 0xFFFF;
  if (code & TPM2_RC_FMT1) return TPM2_RC_FMT1 | (code & 0x3F);
  return code;
}

bool isTransportError(uint32_t rc) {
  uint32_t layer = rc & TSS2_RC_LAYER_MASK;
  uint32_t base = rc & 0xFFFF;
  if (layer == TSS2_TCTI_RC_LAYER) return true;
  if (layer == TSS2_SYS_RC_LAYER || layer == TSS2_ESAPI_RC_LAYER || layer == TSS2_MU_RC_LAYER)
    return base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION ||
           base == TSS2_BASE_RC_MALFORMED_RESPONSE || base == TSS2_BASE_RC_INSUFFICIENT_RESPONSE;
  return false;
}

bool isLostObject(uint32_t rc) {
  uint32_t c = tpmCode(rc);
  return c == TPM2_RC_HANDLE || c == TPM2_RC_REFERENCE_H0 || c == TPM2_RC_REFERENCE_S0;
}

[[noreturn]] void fail(const std::string& op, uint32_t rc) {
  const char* text = Tss2_RC_Decode(rc);
  throw TpmFailure(op, rc, text ? text : "unknown error");
}

void check(const std::string& op, uint32_t rc) {
  if (rc != TSS2_RC_SUCCESS) fail(op, rc);
}

std::string hex32(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

TPM2B_AUTH toAuth(const Bytes& b, const std::string& what) {
  TPM2B_AUTH a{};
  if (b.size() > sizeof a.buffer)
    throw TpmFailure(what, 0, "password longer than " + std::to_string(sizeof a.buffer) + " bytes");
  a.size = static_cast<uint16_t>(b.size());
  if (!b.empty()) memcpy(a.buffer, b.data(), b.size());
  return a;
}

void wipeAuth(TPM2B_AUTH& a) { explicit_bzero(&a, sizeof a); }

TPM2B_PUBLIC unmarshalPublic(const Bytes& b, const std::string& id) {
  TPM2B_PUBLIC pub{};
  size_t off = 0;
  uint32_t rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(b.data(), b.size(), &off, &pub);
  if (rc != TSS2_RC_SUCCESS || off != b.size())
    throw TpmFailure("reading the public part of " + id, rc, "malformed TPM2B_PUBLIC", 0, "TLSSH_ERR_TPM_KEY_FILE");
  return pub;
}

TPM2B_PRIVATE unmarshalPrivate(const Bytes& b, const std::string& id) {
  TPM2B_PRIVATE priv{};
  size_t off = 0;
  uint32_t rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(b.data(), b.size(), &off, &priv);
  if (rc != TSS2_RC_SUCCESS || off != b.size())
    throw TpmFailure("reading the private part of " + id, rc, "malformed TPM2B_PRIVATE", 0, "TLSSH_ERR_TPM_KEY_FILE");
  return priv;
}

Bytes marshalPublic(const TPM2B_PUBLIC& pub) {
  Bytes out(sizeof(TPM2B_PUBLIC) + 2);
  size_t off = 0;
  check("marshalling TPM2B_PUBLIC", Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &off));
  out.resize(off);
  return out;
}

Bytes marshalPrivate(const TPM2B_PRIVATE& priv) {
  Bytes out(sizeof(TPM2B_PRIVATE) + 2);
  size_t off = 0;
  check("marshalling TPM2B_PRIVATE", Tss2_MU_TPM2B_PRIVATE_Marshal(&priv, out.data(), out.size(), &off));
  out.resize(off);
  return out;
}

void closeConn(Conn& c) {
  if (c.esys) Esys_Finalize(&c.esys);
  if (c.tcti) Tss2_TctiLdr_Finalize(&c.tcti);
  c.esys = nullptr;
  c.tcti = nullptr;
}

void dropConn(const std::string& tcti) {
  auto it = g_conns.find(tcti);
  if (it == g_conns.end()) return;
  closeConn(it->second);
  g_conns.erase(it);
}

Conn& connect(const std::string& tcti) {
  auto it = g_conns.find(tcti);
  if (it != g_conns.end() && it->second.esys) return it->second;
  const std::string op = "connecting to the TPM at " + tcti;
  // The device TCTI reports every open failure as the same I/O error; errno says which it is.
  if (tcti.rfind("device:", 0) == 0) {
    std::string path = tcti.substr(7);
    if (path.empty()) path = "/dev/tpm0";
    if (access(path.c_str(), R_OK | W_OK) != 0) {
      int e = errno;
      throw TpmFailure(op, 0, std::string(path) + ": " + strerror(e), e);
    }
  }
  Conn c;
  uint32_t rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &c.tcti);
  if (rc != TSS2_RC_SUCCESS) {
    int e = errno;
    const char* text = Tss2_RC_Decode(rc);
    throw TpmFailure(op, rc, text ? text : "TCTI initialisation failed", e == EACCES ? e : 0);
  }
  rc = Esys_Initialize(&c.esys, c.tcti, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    Tss2_TctiLdr_Finalize(&c.tcti);
    fail(op, rc);
  }
  c.gen = g_nextGen++;
  return g_conns[tcti] = c;
}

// Flushes the key and the parent kept with it, if they belong to connection c.
void flushKeyObjects(Conn& c, KeyState& k) {
  if (k.gen == c.gen) {
    if (k.handle != ESYS_TR_NONE) Esys_FlushContext(c.esys, k.handle);
    if (k.parent != ESYS_TR_NONE) Esys_FlushContext(c.esys, k.parent);
  }
  k.handle = ESYS_TR_NONE;
  k.parent = ESYS_TR_NONE;
}

// A resource manager (the kernel's /dev/tpmrm*, tpm2-abrmd) flushes a connection's transient
// objects when it closes, so flushing them one by one would only cost TPM commands.
bool managedTcti(const std::string& tcti) {
  return tcti.rfind("device:/dev/tpmrm", 0) == 0 || tcti.rfind("tabrmd", 0) == 0;
}

// Transient objects left by other programs (tpm2-tools without a resource manager, a process
// killed before it flushed) fill the TPM's few object slots. Without a resource manager nobody
// else can be using the TPM while we hold the connection, so flushing them all is safe.
void flushTransients(Conn& c) {
  for (auto& [id, k] : g_keys) flushKeyObjects(c, k);
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* cap = nullptr;
  if (Esys_GetCapability(c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, TPM2_TRANSIENT_FIRST,
                         TPM2_MAX_CAP_HANDLES, &more, &cap) != TSS2_RC_SUCCESS)
    return;
  for (uint32_t i = 0; i < cap->data.handles.count; i++) {
    ESYS_TR tr = ESYS_TR_NONE;
    if (Esys_TR_FromTPMPublic(c.esys, cap->data.handles.handle[i], ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr) ==
        TSS2_RC_SUCCESS)
      Esys_FlushContext(c.esys, tr);
  }
  Esys_Free(cap);
}

// Runs f; when the TPM is out of object memory, frees it and runs f once more.
template <class F>
auto withRoom(Conn& c, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const TpmFailure& e) {
    if (tpmCode(e.rc) != TPM2_RC_OBJECT_MEMORY) throw;
  }
  flushTransients(c);
  return f();
}

TPM2B_PUBLIC primaryTemplate() {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                       TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                       TPMA_OBJECT_NODA;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  // unique stays empty: tpm2-openssl and tpm2-tss-engine do the same, so their keys load here.
  return t;
}

struct Parent {
  ESYS_TR tr = ESYS_TR_NONE;
  bool transient = false;
};

Parent openParent(Conn& c, uint32_t handle, const Bytes& auth, const std::string& forWhat) {
  Parent p;
  TPM2B_AUTH a = toAuth(auth, "the parent password for " + forWhat);
  if (handle == kOwnerParent) {
    // The primary's own auth is empty; the parent password is the owner hierarchy's.
    Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &a);
    wipeAuth(a);
    TPM2B_SENSITIVE_CREATE sens{};
    TPM2B_PUBLIC tmpl = primaryTemplate();
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION pcrs{};
    uint32_t rc = Esys_CreatePrimary(c.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
                                     &tmpl, &outside, &pcrs, &p.tr, nullptr, nullptr, nullptr, nullptr);
    TPM2B_AUTH empty{};
    Esys_TR_SetAuth(c.esys, ESYS_TR_RH_OWNER, &empty);
    check("TPM2_CreatePrimary (owner hierarchy parent) for " + forWhat, rc);
    p.transient = true;
    return p;
  }
  if ((handle >> 24) != TPM2_HT_PERSISTENT) {
    wipeAuth(a);
    throw TpmFailure("opening parent " + hex32(handle) + " for " + forWhat, 0,
                     "unsupported parent handle: use 0x40000001 (owner hierarchy) or a persistent handle 0x81xxxxxx",
                     0, "TLSSH_ERR_TPM_KEY_FILE");
  }
  uint32_t rc = Esys_TR_FromTPMPublic(c.esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &p.tr);
  if (rc != TSS2_RC_SUCCESS) {
    wipeAuth(a);
    fail("TPM2_ReadPublic of parent " + hex32(handle) + " for " + forWhat, rc);
  }
  Esys_TR_SetAuth(c.esys, p.tr, &a);
  wipeAuth(a);
  return p;
}

void closeParent(Conn& c, Parent& p) {
  if (p.tr == ESYS_TR_NONE) return;
  if (p.transient)
    Esys_FlushContext(c.esys, p.tr);
  else
    Esys_TR_Close(c.esys, &p.tr);  // only forgets the metadata; the persistent key stays
  p.tr = ESYS_TR_NONE;
}

void ensureLoaded(Conn& c, const std::string& id, KeyState& k) {
  if (k.handle != ESYS_TR_NONE && k.gen == c.gen) return;
  if (k.gen == c.gen && k.parent != ESYS_TR_NONE) Esys_FlushContext(c.esys, k.parent);
  k.handle = ESYS_TR_NONE;
  k.parent = ESYS_TR_NONE;
  k.fromContext = false;
  if (!k.context.empty()) {
    Bytes blob = std::move(k.context);
    k.context.clear();
    TPMS_CONTEXT saved{};
    size_t off = 0;
    if (Tss2_MU_TPMS_CONTEXT_Unmarshal(blob.data(), blob.size(), &off, &saved) == TSS2_RC_SUCCESS && off == blob.size()) {
      ESYS_TR h = ESYS_TR_NONE;
      if (Esys_ContextLoad(c.esys, &saved, &h) == TSS2_RC_SUCCESS) {
        k.handle = h;
        k.gen = c.gen;
        k.fromContext = true;
        return;
      }
    }
  }
  TPM2B_PUBLIC pub = unmarshalPublic(k.cfg.pub, id);
  TPM2B_PRIVATE priv = unmarshalPrivate(k.cfg.priv, id);
  withRoom(c, [&] {
    Parent p = openParent(c, k.cfg.parent, k.cfg.parentAuth, id);
    ESYS_TR h = ESYS_TR_NONE;
    uint32_t rc = Esys_Load(c.esys, p.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &h);
    if (rc == TSS2_RC_SUCCESS && p.transient && k.keepParent) {
      k.parent = p.tr;
    } else {
      closeParent(c, p);
    }
    check("TPM2_Load of " + id, rc);
    k.handle = h;
    k.gen = c.gen;
  });
}

KeyState& keyState(const std::string& id) {
  auto it = g_keys.find(id);
  if (it == g_keys.end())
    throw TpmFailure("using TPM key " + id, 0, "the key was not configured before use", 0, "TLSSH_ERR_TPM_KEY_FILE");
  return it->second;
}

// Runs f(conn, handle) with the key loaded. A broken connection is reopened and a vanished
// object reloaded, once: a restarted TPM or resource manager must not need a daemon restart.
template <class F>
auto withKey(const std::string& id, F f) -> decltype(f(std::declval<Conn&>(), ESYS_TR{})) {
  KeyState& k = keyState(id);
  if (k.loadFailure) throw *k.loadFailure;
  for (int attempt = 0;; attempt++) {
    Conn& c = connect(k.cfg.tcti);
    try {
      ensureLoaded(c, id, k);
      TPM2B_AUTH a = toAuth(k.cfg.keyAuth, "the password of " + id);
      Esys_TR_SetAuth(c.esys, k.handle, &a);
      wipeAuth(a);
      auto result = f(c, k.handle);
      TPM2B_AUTH empty{};
      Esys_TR_SetAuth(c.esys, k.handle, &empty);
      return result;
    } catch (const TpmFailure& e) {
      if (k.handle != ESYS_TR_NONE) {
        TPM2B_AUTH empty{};
        Esys_TR_SetAuth(c.esys, k.handle, &empty);
      }
      if (attempt > 0) throw;
      if (isTransportError(e.rc)) {
        dropConn(k.cfg.tcti);
        k.handle = ESYS_TR_NONE;
        k.parent = ESYS_TR_NONE;
      } else if (isLostObject(e.rc)) {
        k.handle = ESYS_TR_NONE;
      } else if (tpmCode(e.rc) == TPM2_RC_INITIALIZE) {
        Esys_Startup(c.esys, TPM2_SU_CLEAR);
        k.handle = ESYS_TR_NONE;
        k.parent = ESYS_TR_NONE;
      } else {
        throw;
      }
    }
  }
}

template <class F>
auto withConn(const std::string& tcti, F f) -> decltype(f(std::declval<Conn&>())) {
  for (int attempt = 0;; attempt++) {
    Conn& c = connect(tcti);
    try {
      return f(c);
    } catch (const TpmFailure& e) {
      if (attempt > 0) throw;
      if (isTransportError(e.rc))
        dropConn(tcti);
      else if (tpmCode(e.rc) == TPM2_RC_INITIALIZE)
        Esys_Startup(c.esys, TPM2_SU_CLEAR);
      else
        throw;
    }
  }
}

void appendDerLength(Bytes& out, size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<uint8_t>(len));
  } else if (len < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<uint8_t>(len));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<uint8_t>(len >> 8));
    out.push_back(static_cast<uint8_t>(len));
  }
}

void appendDerInteger(Bytes& out, const uint8_t* p, size_t n) {
  while (n > 1 && p[0] == 0) {
    p++;
    n--;
  }
  bool pad = n == 0 || (p[0] & 0x80);
  out.push_back(0x02);
  appendDerLength(out, n + (pad ? 1 : 0));
  if (pad) out.push_back(0);
  out.insert(out.end(), p, p + n);
}

Bytes ecdsaDer(const TPMS_SIGNATURE_ECC& s) {
  Bytes body;
  appendDerInteger(body, s.signatureR.buffer, s.signatureR.size);
  appendDerInteger(body, s.signatureS.buffer, s.signatureS.size);
  Bytes out{0x30};
  appendDerLength(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void wipeConfig(KeyConfig& cfg) {
  wipe(cfg.parentAuth);
  wipe(cfg.keyAuth);
}

}  // namespace

void wipe(Bytes& b) {
  if (!b.empty()) explicit_bzero(b.data(), b.size());
  b.clear();
}

void configureKey(const std::string& id, KeyConfig cfg) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  std::lock_guard<std::mutex> cfgLock(g_cfgMu);
  unmarshalPublic(cfg.pub, id);
  if (cfg.agentPath.empty()) unmarshalPrivate(cfg.priv, id);
  auto it = g_keys.find(id);
  if (it != g_keys.end()) {
    KeyState& old = it->second;
    bool sameObject = old.cfg.tcti == cfg.tcti && old.cfg.parent == cfg.parent && old.cfg.pub == cfg.pub &&
                      old.cfg.priv == cfg.priv && old.cfg.parentAuth == cfg.parentAuth;
    if (!sameObject) {
      auto c = g_conns.find(old.cfg.tcti);
      if (c != g_conns.end()) flushKeyObjects(c->second, old);
      old.handle = ESYS_TR_NONE;
      old.parent = ESYS_TR_NONE;
    }
    old.loadFailure.reset();
    wipeConfig(old.cfg);
    old.cfg = std::move(cfg);
    return;
  }
  KeyState k;
  k.cfg = std::move(cfg);
  g_keys.emplace(id, std::move(k));
}

void removeKey(const std::string& id) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  std::lock_guard<std::mutex> cfgLock(g_cfgMu);
  auto it = g_keys.find(id);
  if (it == g_keys.end()) return;
  KeyState& k = it->second;
  auto c = g_conns.find(k.cfg.tcti);
  if (c != g_conns.end()) flushKeyObjects(c->second, k);
  wipeConfig(k.cfg);
  g_keys.erase(it);
}

PublicInfo publicInfo(const std::string& id, std::string* agentPath) {
  std::lock_guard<std::mutex> lock(g_cfgMu);
  KeyState& k = keyState(id);
  TPM2B_PUBLIC pub = unmarshalPublic(k.cfg.pub, id);
  PublicInfo info;
  const TPMT_PUBLIC& p = pub.publicArea;
  info.type = p.type;
  if (p.type == TPM2_ALG_ECC) {
    info.curve = p.parameters.eccDetail.curveID;
    info.x.assign(p.unique.ecc.x.buffer, p.unique.ecc.x.buffer + p.unique.ecc.x.size);
    info.y.assign(p.unique.ecc.y.buffer, p.unique.ecc.y.buffer + p.unique.ecc.y.size);
  } else if (p.type == TPM2_ALG_RSA) {
    info.n.assign(p.unique.rsa.buffer, p.unique.rsa.buffer + p.unique.rsa.size);
    info.exponent = p.parameters.rsaDetail.exponent;
  } else {
    throw TpmFailure("reading the public part of " + id, 0, "the key is neither ECC nor RSA", 0,
                     "TLSSH_ERR_TPM_KEY_ATTRIBUTES");
  }
  if (agentPath) *agentPath = k.cfg.agentPath;
  return info;
}

Bytes ecdsaSign(const std::string& id, const Bytes& digest) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  const std::string op = "TPM2_Sign with " + id;
  TPM2B_DIGEST d{};
  TPMI_ALG_HASH hash;
  switch (digest.size()) {
    case 20: hash = TPM2_ALG_SHA1; break;
    case 32: hash = TPM2_ALG_SHA256; break;
    case 48: hash = TPM2_ALG_SHA384; break;
    case 64: hash = TPM2_ALG_SHA512; break;
    default: throw TpmFailure(op, 0, "unsupported digest length " + std::to_string(digest.size()));
  }
  d.size = static_cast<uint16_t>(digest.size());
  memcpy(d.buffer, digest.data(), digest.size());
  return withKey(id, [&](Conn& c, ESYS_TR h) {
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_ECDSA;
    scheme.details.ecdsa.hashAlg = hash;
    TPMT_TK_HASHCHECK validation{};
    validation.tag = TPM2_ST_HASHCHECK;
    validation.hierarchy = TPM2_RH_NULL;
    TPMT_SIGNATURE* sig = nullptr;
    check(op, Esys_Sign(c.esys, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, &scheme, &validation, &sig));
    Bytes der = ecdsaDer(sig->signature.ecdsa);
    Esys_Free(sig);
    return der;
  });
}

Bytes rsaPrivate(const std::string& id, const Bytes& input) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  const std::string op = "TPM2_RSA_Decrypt with " + id;
  KeyState& k = keyState(id);
  size_t modulus = unmarshalPublic(k.cfg.pub, id).publicArea.unique.rsa.size;
  if (input.size() > modulus) throw TpmFailure(op, 0, "input longer than the modulus");
  TPM2B_PUBLIC_KEY_RSA in{};
  in.size = static_cast<uint16_t>(modulus);
  memcpy(in.buffer + (modulus - input.size()), input.data(), input.size());
  return withKey(id, [&](Conn& c, ESYS_TR h) {
    TPMT_RSA_DECRYPT scheme{};
    scheme.scheme = TPM2_ALG_NULL;
    TPM2B_DATA label{};
    TPM2B_PUBLIC_KEY_RSA* out = nullptr;
    check(op, Esys_RSA_Decrypt(c.esys, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &in, &scheme, &label, &out));
    Bytes result(modulus, 0);
    size_t n = out->size > modulus ? modulus : out->size;
    memcpy(result.data() + (modulus - n), out->buffer + (out->size - n), n);
    explicit_bzero(out, sizeof *out);
    Esys_Free(out);
    return result;
  });
}

LockoutInfo lockoutInfo(const std::string& tcti) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  return withConn(tcti, [&](Conn& c) {
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA* cap = nullptr;
    // TPM_PT_LOCKOUT_COUNTER and TPM_PT_MAX_AUTH_FAIL are adjacent properties.
    uint32_t rc = Esys_GetCapability(c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                     TPM2_PT_LOCKOUT_COUNTER, 2, &more, &cap);
    if (rc != TSS2_RC_SUCCESS) fail("TPM2_GetCapability of the dictionary-attack state", rc);
    LockoutInfo out;
    for (uint32_t i = 0; i < cap->data.tpmProperties.count; i++) {
      const TPMS_TAGGED_PROPERTY& p = cap->data.tpmProperties.tpmProperty[i];
      if (p.property == TPM2_PT_LOCKOUT_COUNTER) out.counter = p.value;
      if (p.property == TPM2_PT_MAX_AUTH_FAIL) out.maxTries = p.value;
    }
    Esys_Free(cap);
    return out;
  });
}

bool loadKey(const std::string& id, bool keepParent, const Bytes& context) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  KeyState& k = keyState(id);
  k.keepParent = keepParent;
  k.loadFailure.reset();
  k.context = context;
  try {
    withKey(id, [](Conn&, ESYS_TR) { return 0; });
  } catch (const TpmFailure& f) {
    k.context.clear();
    if (keepParent) k.loadFailure = f;
    throw;
  }
  return k.fromContext;
}

Bytes saveKeyContext(const std::string& id) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  KeyState& k = keyState(id);
  auto it = g_conns.find(k.cfg.tcti);
  if (k.handle == ESYS_TR_NONE || it == g_conns.end() || it->second.gen != k.gen)
    throw TpmFailure("TPM2_ContextSave of " + id, 0, "the key is not loaded");
  TPMS_CONTEXT* saved = nullptr;
  check("TPM2_ContextSave of " + id, Esys_ContextSave(it->second.esys, k.handle, &saved));
  Bytes out(sizeof(TPMS_CONTEXT) + 16);
  size_t off = 0;
  uint32_t rc = Tss2_MU_TPMS_CONTEXT_Marshal(saved, out.data(), out.size(), &off);
  explicit_bzero(saved, sizeof *saved);
  Esys_Free(saved);
  check("marshalling the saved context of " + id, rc);
  out.resize(off);
  return out;
}

CreatedKey createKey(const std::string& tcti, uint32_t parent, Bytes parentAuth, Bytes keyAuth,
                     const Bytes& publicTemplate) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  const std::string what = "a new key";
  TPM2B_PUBLIC tmpl = unmarshalPublic(publicTemplate, "the key template");
  TPM2B_SENSITIVE_CREATE sens{};
  TPM2B_AUTH a = toAuth(keyAuth, "the new key's password");
  sens.sensitive.userAuth = a;
  wipeAuth(a);
  wipe(keyAuth);
  try {
    CreatedKey out = withConn(tcti, [&](Conn& c) {
      return withRoom(c, [&] {
        Parent p = openParent(c, parent, parentAuth, what);
        TPM2B_DATA outside{};
        TPML_PCR_SELECTION pcrs{};
        TPM2B_PRIVATE* priv = nullptr;
        TPM2B_PUBLIC* pub = nullptr;
        uint32_t rc = Esys_Create(c.esys, p.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                                  &pcrs, &priv, &pub, nullptr, nullptr, nullptr);
        closeParent(c, p);
        check("TPM2_Create under parent " + hex32(parent), rc);
        CreatedKey k{marshalPublic(*pub), marshalPrivate(*priv)};
        Esys_Free(pub);
        Esys_Free(priv);
        return k;
      });
    });
    explicit_bzero(&sens, sizeof sens);
    wipe(parentAuth);
    return out;
  } catch (...) {
    explicit_bzero(&sens, sizeof sens);
    wipe(parentAuth);
    throw;
  }
}

Bytes importKey(const std::string& tcti, uint32_t parent, Bytes parentAuth, const Bytes& pubBytes, Bytes sensitive) {
  std::lock_guard<std::timed_mutex> lock(g_mu);
  TPM2B_PUBLIC pub = unmarshalPublic(pubBytes, "the imported key");
  TPM2B_PRIVATE dup{};
  if (sensitive.size() > sizeof dup.buffer) {
    wipe(sensitive);
    throw TpmFailure("TPM2_Import", 0, "the private key is too large for the TPM");
  }
  dup.size = static_cast<uint16_t>(sensitive.size());
  memcpy(dup.buffer, sensitive.data(), sensitive.size());
  wipe(sensitive);
  auto cleanup = [&] {
    explicit_bzero(&dup, sizeof dup);
    wipe(parentAuth);
  };
  try {
    Bytes out = withConn(tcti, [&](Conn& c) {
      return withRoom(c, [&] {
        Parent p = openParent(c, parent, parentAuth, "an imported key");
        TPM2B_DATA encKey{};
        TPM2B_ENCRYPTED_SECRET seed{};
        TPMT_SYM_DEF_OBJECT sym{};
        sym.algorithm = TPM2_ALG_NULL;
        TPM2B_PRIVATE* priv = nullptr;
        uint32_t rc = Esys_Import(c.esys, p.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &encKey, &pub, &dup,
                                  &seed, &sym, &priv);
        closeParent(c, p);
        check("TPM2_Import under parent " + hex32(parent), rc);
        Bytes b = marshalPrivate(*priv);
        Esys_Free(priv);
        return b;
      });
    });
    cleanup();
    return out;
  } catch (...) {
    cleanup();
    throw;
  }
}

void flushAll() {
  // A command stuck on a TPM that stopped answering holds the lock and may never return: give up
  // rather than hang the process's exit. Disconnecting drops our objects from a resource manager;
  // a TPM without one keeps them until its next reset.
  std::unique_lock<std::timed_mutex> lock(g_mu, std::chrono::seconds(2));
  if (!lock.owns_lock()) return;
  for (auto& [id, k] : g_keys) {
    auto c = g_conns.find(k.cfg.tcti);
    if (c != g_conns.end() && !managedTcti(k.cfg.tcti)) flushKeyObjects(c->second, k);
    k.handle = ESYS_TR_NONE;
    k.parent = ESYS_TR_NONE;
  }
  for (auto& [tcti, c] : g_conns) closeConn(c);
  g_conns.clear();
}

}  // namespace tlssh
