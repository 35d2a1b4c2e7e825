export { Channel, type ChannelOptions } from './channel';
export { connectTls, clientTlsOptions, checkServer, type ConnectOptions } from './connect';
export { serverTlsOptions, checkClientCertificate, keyMaterial, TLS_MIN_VERSION, type KeyOptions } from './tls-options';
export { identityOf, describePeer, peerCertificate, type PeerIdentity } from './peer-identity';
