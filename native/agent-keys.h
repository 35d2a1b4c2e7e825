// The agent-only addon's key registry (agent-keys.cc): public halves and the agent's socket.
#pragma once

#include <string>

#include "tpm-core.h"

namespace tlssh {

void configureAgentKey(const std::string& id, PublicInfo info, std::string agentPath);

}  // namespace tlssh
