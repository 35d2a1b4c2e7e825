// pipe(2) for tlsshd, which Node does not offer: a command without a terminal gets real pipes
// for stdin, stdout and stderr, as sshd gives it, where Node's child_process makes UNIX
// socketpairs. A socket cannot be opened again by name (`cat /dev/stdin`, `echo x >
// /dev/stderr` fail with ENXIO), and costs more per byte than a pipe. What to do with the
// descriptors is decided in src/server/command-pipes.ts; this file only makes them.
#include <fcntl.h>
#include <napi.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace {

// pipe() -> [readFd, writeFd], both close-on-exec (a spawn dup2()s the command's ends into
// place, which clears the flag there). Throws an Error with `errno` on failure (EMFILE, ENFILE).
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    int err = errno;
    Napi::Error e = Napi::Error::New(env, std::string("pipe2: ") + strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array r = Napi::Array::New(env, 2);
  r.Set(0u, Napi::Number::New(env, fds[0]));
  r.Set(1u, Napi::Number::New(env, fds[1]));
  return r;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  return exports;
}

}  // namespace

NODE_API_MODULE(tlssh_pipe, Init)
