// The node option every tlssh process that makes TLS contexts starts with (bin/tlssh and
// bin/tlsshd on their #! line, the workers and the connection-sharing master on their command
// line). It makes node build its default CA store from OpenSSL's default locations instead of
// parsing the ~140 certificates compiled into node, which src/transport/default-trust.ts then
// leaves empty. Kept apart from that module so that the light client, which starts the master
// but loads no TLS, can name it without loading node:tls.
export const NODE_TRUST_FLAG = '--use-openssl-ca';
