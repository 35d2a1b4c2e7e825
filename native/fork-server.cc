// fork(2) for tlsshd's fork server (src/server/fork-server.ts): a process that has loaded a
// worker's code and built its TLS context once, and forks a worker per connection from that,
// instead of starting node again. Which process forks, what the child does and every policy is
// in TypeScript; this file only makes the system calls Node does not offer.
#include <dirent.h>
#include <fcntl.h>
#include <napi.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

Napi::Value Fail(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// V8 maps its heap and code with MADV_DONTFORK, so a plain fork() leaves the child with holes
// where its objects were (it dies of SIGSEGV at its first step). Every mapping is made
// inheritable again just before the fork; memory mapped later is the parent's own business.
void InheritAllMappings() {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return;
  char line[512];
  while (fgets(line, sizeof line, maps) != nullptr) {
    unsigned long lo = 0, hi = 0;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DOFORK);
  }
  fclose(maps);
}

struct Pipe {
  int fd;
  dev_t dev;
  ino_t ino;
};

// The descriptors above stderr, as numbers (the directory's own left out).
std::vector<int> OpenFds() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  int own = dirfd(dir);
  while (struct dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && fd > 2 && fd != own) fds.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  return fds;
}

std::vector<Pipe> Pipes() {
  std::vector<Pipe> out;
  for (int fd : OpenFds()) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) out.push_back({fd, st.st_dev, st.st_ino});
  }
  return out;
}

bool WatchedBy(const uv_loop_t* loop, int fd) {
  return fd == loop->backend_fd || fd == loop->signal_pipefd[0] || fd == loop->signal_pipefd[1] ||
         fd == loop->async_wfd || (static_cast<unsigned>(fd) < loop->nwatchers && loop->watchers[fd] != nullptr);
}

bool IsEventFd(int fd) {
  char path[64], target[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  return strcmp(target, "anon_inode:[eventpoll]") == 0 || strcmp(target, "anon_inode:[eventfd]") == 0;
}

// In the child: Node runs event loops of its own on threads a fork does not copy (V8's delayed
// task scheduler among them), and their epoll, eventfd and signal pipe are shared with the fork
// server, which runs as root. A worker that ran a logged-in user's code after an exploit could
// write into them; a libuv signal pipe carries pointers that the fork server would follow. Each
// such descriptor is pointed at /dev/null instead of closed, so that its number is never reused
// by something a stray write from Node's side would then corrupt. Descriptors this loop watches
// (the fork server's channel, the connection, the worker's line) are JavaScript's to close;
// uv_loop_fork has already given this loop an epoll, eventfd and signal pipe of its own.
void SeverInternalLoops(const uv_loop_t* loop, const std::vector<Pipe>& parentPipes) {
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    static const char msg[] = "tlsshd fork server: cannot open /dev/null in a new worker\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(70);
  }
  std::vector<int> sever;
  for (const Pipe& p : parentPipes) {
    struct stat st;
    if (p.fd != devnull && !WatchedBy(loop, p.fd) && fstat(p.fd, &st) == 0 && st.st_dev == p.dev && st.st_ino == p.ino) sever.push_back(p.fd);
  }
  for (int fd : OpenFds()) {
    if (fd != devnull && !WatchedBy(loop, fd) && IsEventFd(fd)) sever.push_back(fd);
  }
  for (int fd : sever) {
    if (dup3(devnull, fd, O_CLOEXEC) < 0) {
      static const char msg[] = "tlsshd fork server: cannot detach a new worker from the fork server's event loops\n";
      ssize_t ignored = write(2, msg, sizeof msg - 1);
      (void)ignored;
      _exit(70);
    }
  }
  close(devnull);
}

// fork() -> the child's pid in the parent, 0 in the child. Only the calling thread goes on in
// the child: the fork server runs node with --single-threaded so that V8 never waits there for
// a helper thread that no longer exists. libuv's loop gets its own epoll and signal pipe
// (uv_loop_fork); its thread pool starts anew by itself (pthread_atfork).
Napi::Value Fork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return Fail(env, "uv loop", EINVAL);
  InheritAllMappings();
  std::vector<Pipe> pipes = Pipes();
  pid_t pid = fork();
  if (pid < 0) return Fail(env, "fork", errno);
  if (pid == 0) {
    if (uv_loop_fork(loop) != 0) {
      static const char msg[] = "tlsshd fork server: uv_loop_fork failed in a new worker\n";
      ssize_t ignored = write(2, msg, sizeof msg - 1);
      (void)ignored;
      _exit(70);
    }
    SeverInternalLoops(loop, pipes);
  }
  return Napi::Number::New(env, pid);
}

// Node keeps the pid it started with in process.pid: the child asks the kernel.
Napi::Value GetPid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), getpid()); }

// socketpair(AF_UNIX, SOCK_STREAM), close-on-exec: a worker's private line to the listener.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return Fail(env, "socketpair", errno);
  Napi::Array r = Napi::Array::New(env, 2);
  r.Set(0u, Napi::Number::New(env, fds[0]));
  r.Set(1u, Napi::Number::New(env, fds[1]));
  return r;
}

// _exit(code): see fork-binding.ts.
Napi::Value Exit(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  _exit(code & 0xff);
}

// waitpid(-1, WNOHANG) until nothing is left: [{pid, code, signal}] (code or signal number null).
Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", Napi::Number::New(env, pid));
    o.Set("code", WIFEXITED(status) ? Napi::Number::New(env, WEXITSTATUS(status)) : env.Null());
    o.Set("signal", WIFSIGNALED(status) ? Napi::Number::New(env, WTERMSIG(status)) : env.Null());
    out.Set(n++, o);
  }
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("fork", Napi::Function::New(env, Fork));
  exports.Set("getpid", Napi::Function::New(env, GetPid));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("exit", Napi::Function::New(env, Exit));
  return exports;
}

}  // namespace

NODE_API_MODULE(tlssh_fork, Init)
