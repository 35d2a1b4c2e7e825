// N-API surface of the agent-only addon that tlsshd's workers load: the OpenSSL engine "tpm"
// (engine.cc) with keys whose every private operation the listener's key agent makes. No TPM
// access and no key material: src/tpm/agent-engine.ts gives each key's public half, taken from
// the certificate, and the agent's socket.
#include <napi.h>
#include <tss2/tss2_tpm2_types.h>

#include "agent-keys.h"
#include "engine.h"
#include "napi-failure.h"

namespace tlssh {
namespace {

Bytes bytesOf(const Napi::Value& v) {
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return Bytes(b.Data(), b.Data() + b.Length());
}

// configureAgentKey(id, { type: 'ecc', curve, x, y } | { type: 'rsa', n, exponent }, agentPath);
// curve is the TPM's curve id (TPM2_ECC_NIST_P256 ...), as the engine maps it to OpenSSL's.
Napi::Value ConfigureAgentKey(const Napi::CallbackInfo& info) {
  std::string id = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info[1].As<Napi::Object>();
  std::string agentPath = info[2].As<Napi::String>().Utf8Value();
  PublicInfo pub;
  if (o.Get("type").As<Napi::String>().Utf8Value() == "ecc") {
    pub.type = TPM2_ALG_ECC;
    pub.curve = static_cast<uint16_t>(o.Get("curve").As<Napi::Number>().Uint32Value());
    pub.x = bytesOf(o.Get("x"));
    pub.y = bytesOf(o.Get("y"));
  } else {
    pub.type = TPM2_ALG_RSA;
    pub.n = bytesOf(o.Get("n"));
    pub.exponent = o.Get("exponent").As<Napi::Number>().Uint32Value();
  }
  configureAgentKey(id, std::move(pub), std::move(agentPath));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  std::string why;
  bool engine = registerEngine(why);
  exports.Set("engineId", kEngineId);
  exports.Set("engineError", engine ? env.Null() : Napi::String::New(env, why));
  exports.Set("configureAgentKey", Napi::Function::New(env, ConfigureAgentKey));
  exports.Set("takeEngineFailure", Napi::Function::New(env, TakeEngineFailure));
  return exports;
}

}  // namespace
}  // namespace tlssh

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tlssh::Init(env, exports); }

NODE_API_MODULE(tlssh_agent_engine, InitModule)
