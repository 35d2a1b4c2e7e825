// A TpmFailure as the JavaScript Error both addons hand to src/tpm/tpm-errors.ts, which turns
// its fields into a TlsshError with advice.
#pragma once

#include <napi.h>

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

}  // namespace tlssh
