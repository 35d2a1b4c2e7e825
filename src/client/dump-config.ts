// tlssh -G: the configuration for a host, as ssh -G prints it: one lower-case "keyword value"
// line per keyword, without connecting. git runs `ssh -G host` to learn whether its ssh takes
// OpenSSH's options (-p, -4, -6, -o); exit status 0 is the answer it looks for.
import type { ClientConfig } from '../config/types';
import { clientSchema } from '../config/schema';
import { controlPathContext, expandControlPath } from './control-path';

export function dumpConfig(cfg: ClientConfig, user: string): string {
  const lines: string[] = [`host ${cfg.host}`];
  const fields = Object.keys(clientSchema.defaults({ home: '' }));
  const out: Record<string, unknown> = { HostName: cfg.HostName, ...Object.fromEntries(fields.map((f) => [f, (cfg as unknown as Record<string, unknown>)[f]])) };
  if (out['User'] === '') out['User'] = user;
  // As ssh -G: the socket's path as it will be used (scripts grep it to find the master), and
  // ControlMaster's yes and no as true and false.
  if (typeof out['ControlPath'] === 'string' && out['ControlPath'] !== 'none' && out['ControlPath'] !== '') {
    try {
      out['ControlPath'] = expandControlPath(out['ControlPath'], controlPathContext({ ...cfg, User: String(out['User']) }));
    } catch {
      // Left as written: the error is the connection's to report.
    }
  }
  if (out['ControlMaster'] === 'yes' || out['ControlMaster'] === 'no') out['ControlMaster'] = out['ControlMaster'] === 'yes' ? 'true' : 'false';
  const secrets = new Set([...clientSchema.keywords.values()].filter((k) => k.secret).map((k) => k.field));
  for (const [field, value] of Object.entries(out)) {
    if (secrets.has(field) || value === undefined) continue;
    const text = Array.isArray(value) ? value.join(' ') : typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
    if (text === '') continue;
    lines.push(`${field.toLowerCase()} ${text}`);
  }
  return `${lines.join('\n')}\n`;
}
