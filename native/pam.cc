// PAM glue for tlsshd: a thin, synchronous N-API surface over libpam. Policy (what to call, in
// which order, what a result means for the login) lives in src/server/pam-session.ts; this file
// only moves strings across and answers PAM's conversation.
//
// - No C++ exceptions cross into Node: every call returns a PAM return code (or null) and the
//   caller asks pam_strerror for the text.
// - The conversation answers no prompts: the certificate is the authentication, so a module that
//   asks for a password gets PAM_CONV_ERR. Informational and error texts (pam_nologin's file,
//   pam_motd, pam_lastlog, account expiry warnings) are kept, bounded, for TypeScript to show.
#include <napi.h>
#include <security/pam_appl.h>
#include <syslog.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Bounds on what a module can make us keep: a huge /etc/motd must not grow the worker without end.
constexpr size_t kMaxMessages = 64;
constexpr size_t kMaxMessageBytes = 16 * 1024;

struct Message {
  bool error;
  std::string text;
};

struct PamState {
  pam_handle_t* pamh = nullptr;
  bool ended = false;
  std::vector<Message> messages;
};

int converse(int n, const struct pam_message** msg, struct pam_response** resp, void* data) {
  auto* st = static_cast<PamState*>(data);
  if (n <= 0 || n > PAM_MAX_NUM_MSG || resp == nullptr) return PAM_CONV_ERR;
  *resp = nullptr;
  // Linux-PAM passes an array of pointers (msg[i]), as does every libpam this builds against.
  for (int i = 0; i < n; i++) {
    int style = msg[i]->msg_style;
    if (style != PAM_TEXT_INFO && style != PAM_ERROR_MSG) return PAM_CONV_ERR;
  }
  auto* r = static_cast<struct pam_response*>(calloc(static_cast<size_t>(n), sizeof(struct pam_response)));
  if (r == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    if (st->messages.size() >= kMaxMessages || msg[i]->msg == nullptr) continue;
    std::string text(msg[i]->msg, strnlen(msg[i]->msg, kMaxMessageBytes));
    st->messages.push_back({msg[i]->msg_style == PAM_ERROR_MSG, std::move(text)});
  }
  *resp = r;
  return PAM_SUCCESS;
}

void finalize(Napi::Env, PamState* st) {
  // Never ended explicitly: end without undoing anything (a session opened here belongs to the
  // process tree now, and is closed by a root process).
  if (!st->ended && st->pamh != nullptr) pam_end(st->pamh, PAM_SUCCESS | PAM_DATA_SILENT);
  delete st;
}

bool isString(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i && info[i].IsString(); }
bool isNumber(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i && info[i].IsNumber(); }

// The handle argument, or nullptr when it is not one of ours or already ended.
PamState* state(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return nullptr;
  auto* st = info[0].As<Napi::External<PamState>>().Data();
  return st != nullptr && !st->ended && st->pamh != nullptr ? st : nullptr;
}

Napi::Value rc(Napi::Env env, int v) { return Napi::Number::New(env, v); }

// start(service, user, rhost, tty) -> { rc, handle? }
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if (!isString(info, 0) || !isString(info, 1) || !isString(info, 2) || !isString(info, 3)) {
    out.Set("rc", rc(env, PAM_SYSTEM_ERR));
    return out;
  }
  std::string service = info[0].As<Napi::String>().Utf8Value();
  std::string user = info[1].As<Napi::String>().Utf8Value();
  std::string rhost = info[2].As<Napi::String>().Utf8Value();
  std::string tty = info[3].As<Napi::String>().Utf8Value();
  // PAM's modules log through syslog(3). Without openlog() glibc names their lines after
  // argv[0], whose memory the process title has overwritten ("dm1 [cmd]: pam_unix(...)"):
  // name them as tlsshd's own lines, with the pid, as sshd's are.
  static bool named = false;
  if (!named) {
    openlog("tlsshd", LOG_PID, LOG_AUTHPRIV);
    named = true;
  }
  auto* st = new PamState();
  struct pam_conv conv = {converse, st};
  int r = pam_start(service.c_str(), user.c_str(), &conv, &st->pamh);
  if (r == PAM_SUCCESS && !rhost.empty()) r = pam_set_item(st->pamh, PAM_RHOST, rhost.c_str());
  if (r == PAM_SUCCESS && !tty.empty()) r = pam_set_item(st->pamh, PAM_TTY, tty.c_str());
  if (r != PAM_SUCCESS) {
    if (st->pamh != nullptr) pam_end(st->pamh, r);
    delete st;
    out.Set("rc", rc(env, r));
    return out;
  }
  out.Set("rc", rc(env, PAM_SUCCESS));
  out.Set("handle", Napi::External<PamState>::New(env, st, finalize));
  return out;
}

// setItem(handle, "rhost" | "tty" | "ruser", value) -> rc
Napi::Value SetItem(const Napi::CallbackInfo& info) {
  PamState* st = state(info);
  if (st == nullptr || !isString(info, 1) || !isString(info, 2)) return rc(info.Env(), PAM_SYSTEM_ERR);
  std::string name = info[1].As<Napi::String>().Utf8Value();
  std::string value = info[2].As<Napi::String>().Utf8Value();
  int item = name == "rhost" ? PAM_RHOST : name == "tty" ? PAM_TTY : name == "ruser" ? PAM_RUSER : -1;
  if (item < 0) return rc(info.Env(), PAM_BAD_ITEM);
  return rc(info.Env(), pam_set_item(st->pamh, item, value.c_str()));
}

// The calls that take (handle, flags) and return a code.
template <int (*Fn)(pam_handle_t*, int)>
Napi::Value Call(const Napi::CallbackInfo& info) {
  PamState* st = state(info);
  if (st == nullptr || !isNumber(info, 1)) return rc(info.Env(), PAM_SYSTEM_ERR);
  return rc(info.Env(), Fn(st->pamh, info[1].As<Napi::Number>().Int32Value()));
}

// getenvlist(handle) -> string[] | null
Napi::Value GetEnvList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PamState* st = state(info);
  if (st == nullptr) return env.Null();
  char** list = pam_getenvlist(st->pamh);
  if (list == nullptr) return env.Null();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (char** p = list; *p != nullptr; p++) {
    out.Set(n++, Napi::String::New(env, *p));
    free(*p);
  }
  free(list);
  return out;
}

// takeMessages(handle) -> { error: boolean, text: string }[]; empties the list.
Napi::Value TakeMessages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (info.Length() < 1 || !info[0].IsExternal()) return out;
  auto* st = info[0].As<Napi::External<PamState>>().Data();
  uint32_t n = 0;
  for (const auto& m : st->messages) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("error", Napi::Boolean::New(env, m.error));
    // Decoded as UTF-8 (what motd files and module texts are); invalid bytes become U+FFFD.
    o.Set("text", Napi::String::New(env, m.text));
    out.Set(n++, o);
  }
  st->messages.clear();
  return out;
}

// strerror(handle, rc) -> string
Napi::Value StrError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!isNumber(info, 1)) return Napi::String::New(env, "bad PAM return code");
  pam_handle_t* h = nullptr;
  if (info.Length() >= 1 && info[0].IsExternal()) {
    auto* st = info[0].As<Napi::External<PamState>>().Data();
    if (st != nullptr && !st->ended) h = st->pamh;
  }
  const char* s = pam_strerror(h, info[1].As<Napi::Number>().Int32Value());
  return Napi::String::New(env, s != nullptr ? s : "unknown PAM error");
}

// end(handle, status, dataSilent) -> rc; the handle is unusable afterwards.
Napi::Value End(const Napi::CallbackInfo& info) {
  PamState* st = state(info);
  if (st == nullptr || !isNumber(info, 1)) return rc(info.Env(), PAM_SYSTEM_ERR);
  int status = info[1].As<Napi::Number>().Int32Value();
  if (info.Length() > 2 && info[2].ToBoolean().Value()) status |= PAM_DATA_SILENT;
  int r = pam_end(st->pamh, status);
  st->ended = true;
  st->pamh = nullptr;
  return rc(info.Env(), r);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object codes = Napi::Object::New(env);
  codes.Set("SUCCESS", PAM_SUCCESS);
  codes.Set("NEW_AUTHTOK_REQD", PAM_NEW_AUTHTOK_REQD);
  codes.Set("ACCT_EXPIRED", PAM_ACCT_EXPIRED);
  codes.Set("PERM_DENIED", PAM_PERM_DENIED);
  codes.Set("USER_UNKNOWN", PAM_USER_UNKNOWN);
  codes.Set("AUTH_ERR", PAM_AUTH_ERR);
  codes.Set("CONV_ERR", PAM_CONV_ERR);
  codes.Set("SYSTEM_ERR", PAM_SYSTEM_ERR);
  codes.Set("ESTABLISH_CRED", PAM_ESTABLISH_CRED);
  codes.Set("DELETE_CRED", PAM_DELETE_CRED);
  codes.Set("SILENT", PAM_SILENT);
  exports.Set("constants", codes);
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("setItem", Napi::Function::New(env, SetItem));
  exports.Set("acctMgmt", Napi::Function::New(env, Call<pam_acct_mgmt>));
  exports.Set("setcred", Napi::Function::New(env, Call<pam_setcred>));
  exports.Set("openSession", Napi::Function::New(env, Call<pam_open_session>));
  exports.Set("closeSession", Napi::Function::New(env, Call<pam_close_session>));
  exports.Set("getenvlist", Napi::Function::New(env, GetEnvList));
  exports.Set("takeMessages", Napi::Function::New(env, TakeMessages));
  exports.Set("strerror", Napi::Function::New(env, StrError));
  exports.Set("end", Napi::Function::New(env, End));
  return exports;
}

}  // namespace

NODE_API_MODULE(tlssh_pam, Init)
