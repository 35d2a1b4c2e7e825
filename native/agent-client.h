// The worker side of the key agent protocol (specified in src/tpm/agent-protocol.ts).
#pragma once

#include <string>

#include "tpm-core.h"

namespace tlssh {

constexpr uint8_t kAgentOpEcdsaSign = 1;
constexpr uint8_t kAgentOpRsaPrivate = 2;

// One request on a fresh connection to the agent's Unix socket; blocks until the answer comes.
// Throws TpmFailure carrying the agent's TLSSH_ERR_* code, or TLSSH_ERR_TPM_AGENT when the agent
// cannot be reached or answers nonsense.
Bytes agentRequest(const std::string& socketPath, uint8_t op, const std::string& id, const Bytes& input);

}  // namespace tlssh
