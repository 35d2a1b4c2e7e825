#include "agent-client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace tlssh {
namespace {

// A chip in dictionary-attack back-off or a long queue of handshakes can be slow, but a worker
// must not hang for ever on an agent that stopped answering.
constexpr int kTimeoutMs = 60000;
constexpr uint32_t kMaxResponse = 64 * 1024;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

[[noreturn]] void agentFail(const std::string& path, const std::string& what, int errnum = 0) {
  std::string detail = what;
  if (errnum) detail += std::string(": ") + strerror(errnum);
  throw TpmFailure("asking the TPM key agent at " + path, 0, detail, errnum, "TLSSH_ERR_TPM_AGENT");
}

int remainingMs(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

void waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline, const std::string& path) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, remainingMs(deadline));
    if (r > 0) return;
    if (r == 0) agentFail(path, "no answer within " + std::to_string(kTimeoutMs / 1000) + " s");
    if (errno != EINTR) agentFail(path, "poll", errno);
  }
}

void sendAll(int fd, const uint8_t* p, size_t n, std::chrono::steady_clock::time_point deadline,
             const std::string& path) {
  while (n > 0) {
    waitFor(fd, POLLOUT, deadline, path);
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      agentFail(path, "send", errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void recvAll(int fd, uint8_t* p, size_t n, std::chrono::steady_clock::time_point deadline, const std::string& path) {
  while (n > 0) {
    waitFor(fd, POLLIN, deadline, path);
    ssize_t r = recv(fd, p, n, 0);
    if (r == 0) agentFail(path, "the agent closed the connection before answering");
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      agentFail(path, "recv", errno);
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
}

void putU32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

}  // namespace

Bytes agentRequest(const std::string& path, uint8_t op, const std::string& id, const Bytes& input) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) agentFail(path, "socket path too long");
  memcpy(addr.sun_path, path.data(), path.size());
  if (id.size() > 0xFFFF) agentFail(path, "key identifier too long");

  Fd s;
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) agentFail(path, "socket", errno);
  if (connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) agentFail(path, "connect", errno);

  Bytes req;
  putU32(req, static_cast<uint32_t>(1 + 2 + id.size() + input.size()));
  req.push_back(op);
  req.push_back(static_cast<uint8_t>(id.size() >> 8));
  req.push_back(static_cast<uint8_t>(id.size()));
  req.insert(req.end(), id.begin(), id.end());
  req.insert(req.end(), input.begin(), input.end());
  sendAll(s.fd, req.data(), req.size(), deadline, path);

  uint8_t head[5];
  recvAll(s.fd, head, sizeof head, deadline, path);
  uint32_t len = (uint32_t(head[1]) << 24) | (uint32_t(head[2]) << 16) | (uint32_t(head[3]) << 8) | head[4];
  if (len > kMaxResponse) agentFail(path, "oversized answer");
  Bytes body(len);
  if (len) recvAll(s.fd, body.data(), len, deadline, path);
  if (head[0] == 0) return body;
  if (head[0] != 1) agentFail(path, "malformed answer");
  std::string text(body.begin(), body.end());
  size_t nl = text.find('\n');
  std::string code = nl == std::string::npos ? "TLSSH_ERR_TPM_AGENT" : text.substr(0, nl);
  std::string message = nl == std::string::npos ? text : text.substr(nl + 1);
  if (code.rfind("TLSSH_ERR_", 0) != 0 || code.size() > 64) code = "TLSSH_ERR_TPM_AGENT";
  throw TpmFailure("asking the TPM key agent at " + path, 0, message, 0, code);
}

}  // namespace tlssh
