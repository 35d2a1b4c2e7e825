// A TpmFailure as the JavaScript Error both addons hand to src/tpm/tpm-errors.ts, which turns
// its fields into a TlsshError with advice; and the engine's last failure, which both export.
#pragma once

#include <napi.h>

#include "engine.h"
#include "tpm-core.h"

namespace tlssh {

inline Napi::Error toError(Napi::Env env, const TpmFailure& f) {
  Napi::Error e = Napi::Error::New(env, f.op + ": " + f.what());
  e.Set("op", f.op);
  e.Set("detail", std::string(f.what()));
  e.Set("rc", Napi::Number::New(env, f.rc));
  e.Set("errno", Napi::Number::New(env, f.errnum));
  if (!f.code.empty()) e.Set("tlsshCode", f.code);
  return e;
}

// takeEngineFailure(): the last failure inside the engine, with the key it concerned, or null.
inline Napi::Value TakeEngineFailure(const Napi::CallbackInfo& info) {
  auto f = takeEngineFailure();
  if (!f) return info.Env().Null();
  Napi::Object o = toError(info.Env(), f->failure).Value();
  o.Set("keyId", f->keyId);
  return o;
}

}  // namespace tlssh
