// The key registry of the agent-only addon (tlssh_agent_engine), which tlsshd's workers load:
// the engine in engine.cc asks the listener's key agent for every private operation, so a worker
// needs only each key's public half and the agent's socket. This file stands in for the parts of
// tpm-core.cc the engine calls, without libtss2 (and the system libcrypto it pulls in, whose
// loading and relocation cost a few ms of every worker's start).
#include <cstring>
#include <map>
#include <mutex>

#include "agent-keys.h"

namespace tlssh {
namespace {

std::mutex g_mu;

struct AgentKey {
  PublicInfo info;
  std::string agentPath;
};

std::map<std::string, AgentKey> g_keys;

}  // namespace

void configureAgentKey(const std::string& id, PublicInfo info, std::string agentPath) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_keys[id] = AgentKey{std::move(info), std::move(agentPath)};
}

PublicInfo publicInfo(const std::string& id, std::string* agentPath) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_keys.find(id);
  if (it == g_keys.end()) throw TpmFailure("loading key " + id, 0, "the key was not configured", 0, "TLSSH_ERR_TPM_KEY_FILE");
  if (agentPath) *agentPath = it->second.agentPath;
  return it->second.info;
}

// Never reached: every key here has an agent socket, and privateOp asks the agent.
Bytes ecdsaSign(const std::string& id, const Bytes&) {
  throw TpmFailure("signing with " + id, 0, "this process signs only through the key agent");
}

Bytes rsaPrivate(const std::string& id, const Bytes&) {
  throw TpmFailure("RSA operation with " + id, 0, "this process signs only through the key agent");
}

}  // namespace tlssh
