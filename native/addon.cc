// N-API surface of the TPM addon. Kept small on purpose: src/tpm/ validates every argument, parses
// key files and builds templates; this file only moves bytes across and runs TPM work on the
// thread pool.
#include <napi.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>

#include "agent-client.h"
#include "engine.h"
#include "napi-failure.h"
#include "tpm-core.h"

namespace tlssh {
namespace {

Bytes bytesOf(const Napi::Value& v) {
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return Bytes(b.Data(), b.Data() + b.Length());
}

std::string str(const Napi::Object& o, const char* name) { return o.Get(name).As<Napi::String>().Utf8Value(); }

uint32_t u32(const Napi::Object& o, const char* name) { return o.Get(name).As<Napi::Number>().Uint32Value(); }

Napi::Buffer<uint8_t> toBuffer(Napi::Env env, const Bytes& b) { return Napi::Buffer<uint8_t>::Copy(env, b.data(), b.size()); }

// Runs `work` on the thread pool and settles a promise with `done`'s value or the failure.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, "tlssh-tpm"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        done_(std::move(done)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const TpmFailure& f) {
      failure_ = f;
      SetError(f.what());
    } catch (const std::exception& e) {
      failure_ = TpmFailure("TPM operation", 0, e.what());
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(done_(Env())); }
  void OnError(const Napi::Error&) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(toError(Env(), *failure_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::optional<TpmFailure> failure_;
};

Napi::Value queue(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done) {
  auto* job = new Job(env, std::move(work), std::move(done));
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

template <class F>
auto guarded(Napi::Env env, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const TpmFailure& e) {
    throw toError(env, e);
  }
}

Napi::Value ConfigureKey(const Napi::CallbackInfo& info) {
  std::string id = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info[1].As<Napi::Object>();
  KeyConfig cfg;
  cfg.tcti = str(o, "tcti");
  cfg.parent = u32(o, "parent");
  cfg.parentAuth = bytesOf(o.Get("parentAuth"));
  cfg.keyAuth = bytesOf(o.Get("keyAuth"));
  cfg.pub = bytesOf(o.Get("pub"));
  cfg.priv = bytesOf(o.Get("priv"));
  cfg.agentPath = str(o, "agentPath");
  guarded(info.Env(), [&] {
    configureKey(id, std::move(cfg));
    return 0;
  });
  return info.Env().Undefined();
}

Napi::Value RemoveKey(const Napi::CallbackInfo& info) {
  removeKey(info[0].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
}

Napi::Value FlushAll(const Napi::CallbackInfo& info) {
  flushAll();
  return info.Env().Undefined();
}

// Node's exit joins every thread-pool thread, and one stuck in a TPM command that never answers
// would never join: the process could not exit. Only for that case, after the exit handlers.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  _exit(code);
}

Napi::Value EcdsaSign(const Napi::CallbackInfo& info) {
  auto id = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
  auto digest = std::make_shared<Bytes>(bytesOf(info[1]));
  auto out = std::make_shared<Bytes>();
  return queue(info.Env(), [=] { *out = ecdsaSign(*id, *digest); },
               [=](Napi::Env env) { return toBuffer(env, *out); });
}

Napi::Value RsaPrivate(const Napi::CallbackInfo& info) {
  auto id = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
  auto input = std::make_shared<Bytes>(bytesOf(info[1]));
  auto out = std::make_shared<Bytes>();
  return queue(info.Env(), [=] { *out = rsaPrivate(*id, *input); },
               [=](Napi::Env env) {
                 auto b = toBuffer(env, *out);
                 wipe(*out);
                 return b;
               });
}

Napi::Value LockoutInfo(const Napi::CallbackInfo& info) {
  auto tcti = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
  auto out = std::make_shared<tlssh::LockoutInfo>();
  return queue(info.Env(), [=] { *out = lockoutInfo(*tcti); }, [=](Napi::Env env) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("counter", Napi::Number::New(env, out->counter));
    r.Set("maxTries", Napi::Number::New(env, out->maxTries));
    return r;
  });
}

Napi::Value LoadKey(const Napi::CallbackInfo& info) {
  auto id = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
  bool keepParent = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  auto context = std::make_shared<Bytes>(info.Length() > 2 && info[2].IsBuffer() ? bytesOf(info[2]) : Bytes{});
  auto fromContext = std::make_shared<bool>(false);
  return queue(
      info.Env(), [=] { *fromContext = loadKey(*id, keepParent, *context); },
      [=](Napi::Env env) { return Napi::Boolean::New(env, *fromContext); });
}

Napi::Value SaveKeyContext(const Napi::CallbackInfo& info) {
  auto id = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
  auto out = std::make_shared<Bytes>();
  return queue(
      info.Env(), [=] { *out = saveKeyContext(*id); },
      [=](Napi::Env env) { return Napi::Buffer<uint8_t>::Copy(env, out->data(), out->size()); });
}

// flushAll on the thread pool: the client lets the TPM go after its session has started without
// holding up its JS thread for the FlushContext round trips.
Napi::Value FlushAllAsync(const Napi::CallbackInfo& info) {
  return queue(info.Env(), [] { flushAll(); }, [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value CreateKey(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto tcti = str(o, "tcti");
  auto parent = u32(o, "parent");
  auto parentAuth = std::make_shared<Bytes>(bytesOf(o.Get("parentAuth")));
  auto keyAuth = std::make_shared<Bytes>(bytesOf(o.Get("keyAuth")));
  auto tmpl = std::make_shared<Bytes>(bytesOf(o.Get("template")));
  auto out = std::make_shared<CreatedKey>();
  return queue(info.Env(),
               [=] { *out = createKey(tcti, parent, std::move(*parentAuth), std::move(*keyAuth), *tmpl); },
               [=](Napi::Env env) {
                 Napi::Object r = Napi::Object::New(env);
                 r.Set("pub", toBuffer(env, out->pub));
                 r.Set("priv", toBuffer(env, out->priv));
                 return r;
               });
}

Napi::Value ImportKey(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto tcti = str(o, "tcti");
  auto parent = u32(o, "parent");
  auto parentAuth = std::make_shared<Bytes>(bytesOf(o.Get("parentAuth")));
  auto pub = std::make_shared<Bytes>(bytesOf(o.Get("pub")));
  auto sensitive = std::make_shared<Bytes>(bytesOf(o.Get("sensitive")));
  auto out = std::make_shared<Bytes>();
  return queue(info.Env(),
               [=] { *out = importKey(tcti, parent, std::move(*parentAuth), *pub, std::move(*sensitive)); },
               [=](Napi::Env env) { return toBuffer(env, *out); });
}

// SO_PEERCRED of a connected Unix socket: who is at the other end, as the kernel recorded it at
// connect time (it cannot be forged by the peer). The connection-sharing master serves only
// its own uid with it, as ssh's mux master does with getpeereid(). Not TPM code, but the one
// addon every client already ships; a second addon just for this would be one more file to find.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "peerCredentials(fd)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    Napi::Error e = Napi::Error::New(env, std::string("getsockopt(SO_PEERCRED): ") + strerror(errno));
    e.Set("errno", Napi::Number::New(env, errno));
    throw e;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("pid", Napi::Number::New(env, cred.pid));
  r.Set("uid", Napi::Number::New(env, cred.uid));
  r.Set("gid", Napi::Number::New(env, cred.gid));
  return r;
}

// The listener's key agent with a server key from a PEM file: the two private operations the
// engine asks of the agent (kAgentOpEcdsaSign: DER signature of a digest; kAgentOpRsaPrivate:
// raw m^d mod n of a padded block), done with Node's OpenSSL. Node's crypto has no ECDSA of a
// bare digest, and this is what keeps the key itself out of every worker. Not TPM work.
Napi::Value SoftwarePrivateOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t op = info[0].As<Napi::Number>().Uint32Value();
  Bytes der = bytesOf(info[1]);
  Bytes input = bytesOf(info[2]);
  const unsigned char* p = der.data();
  EVP_PKEY* pkey = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  wipe(der);
  if (!pkey) {
    ERR_clear_error();
    throw Napi::Error::New(env, "the key is not a private key OpenSSL can read");
  }
  Bytes out;
  std::string why;
  if (op == kAgentOpEcdsaSign && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
    ECDSA_SIG* sig = ECDSA_do_sign(input.data(), static_cast<int>(input.size()), const_cast<EC_KEY*>(EVP_PKEY_get0_EC_KEY(pkey)));
    int len = sig ? i2d_ECDSA_SIG(sig, nullptr) : -1;
    if (len > 0) {
      out.resize(static_cast<size_t>(len));
      unsigned char* q = out.data();
      i2d_ECDSA_SIG(sig, &q);
    } else {
      why = "ECDSA signing failed";
    }
    ECDSA_SIG_free(sig);
  } else if (op == kAgentOpRsaPrivate && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
    RSA* rsa = const_cast<RSA*>(EVP_PKEY_get0_RSA(pkey));
    int n = RSA_size(rsa);
    out.resize(static_cast<size_t>(n));
    if (input.size() != out.size() ||
        RSA_private_encrypt(n, input.data(), out.data(), rsa, RSA_NO_PADDING) != n) {
      out.clear();
      why = "the RSA private operation failed";
    }
  } else {
    why = "the operation does not fit the key's type";
  }
  EVP_PKEY_free(pkey);
  ERR_clear_error();
  if (!why.empty()) throw Napi::Error::New(env, why);
  return toBuffer(env, out);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // libtss2 logs errors to stderr unless told otherwise; tlssh reports them itself.
  setenv("TSS2_LOG", "all+none", 0);
  std::string why;
  bool engine = registerEngine(why);
  exports.Set("engineId", kEngineId);
  exports.Set("engineError", engine ? env.Null() : Napi::String::New(env, why));
  exports.Set("configureKey", Napi::Function::New(env, ConfigureKey));
  exports.Set("removeKey", Napi::Function::New(env, RemoveKey));
  exports.Set("flushAll", Napi::Function::New(env, FlushAll));
  exports.Set("flushAllAsync", Napi::Function::New(env, FlushAllAsync));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("takeEngineFailure", Napi::Function::New(env, TakeEngineFailure));
  exports.Set("ecdsaSign", Napi::Function::New(env, EcdsaSign));
  exports.Set("rsaPrivate", Napi::Function::New(env, RsaPrivate));
  exports.Set("loadKey", Napi::Function::New(env, LoadKey));
  exports.Set("saveKeyContext", Napi::Function::New(env, SaveKeyContext));
  exports.Set("lockoutInfo", Napi::Function::New(env, LockoutInfo));
  exports.Set("createKey", Napi::Function::New(env, CreateKey));
  exports.Set("importKey", Napi::Function::New(env, ImportKey));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("softwarePrivateOp", Napi::Function::New(env, SoftwarePrivateOp));
  env.AddCleanupHook([] { flushAll(); });
  return exports;
}

}  // namespace
}  // namespace tlssh

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tlssh::Init(env, exports); }

NODE_API_MODULE(tlssh_tpm, InitModule)
