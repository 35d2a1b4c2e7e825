// The version line every program prints for -V: its own version, and the Node and OpenSSL it runs
// on, as `ssh -V` names its OpenSSL. An administrator asked which build a host runs wants both:
// TLS behaviour (ciphers, fixes) comes from the OpenSSL inside Node, not from the system's.

function packageVersion(): string {
  try {
    // A literal require: the bundler inlines package.json, so the bundle needs no path to it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require('../../package.json') as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `tlsshd 0.1.0, Node v20.20.2, OpenSSL 3.0.19` */
export function versionLine(program: string, version: string = packageVersion()): string {
  return `${program} ${version}, Node ${process.version}, OpenSSL ${process.versions.openssl}`;
}
