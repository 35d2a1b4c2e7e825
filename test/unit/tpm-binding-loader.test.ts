// Without the built addon the loader fails with one error that names every path it tried.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe('TPM addon loader', () => {
  it('reports TLSSH_ERR_TPM_NATIVE_MISSING naming the paths it tried', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-loader-'));
    try {
      const compiled = path.resolve(__dirname, '../../src');
      fs.mkdirSync(path.join(root, 'src', 'tpm'), { recursive: true });
      fs.copyFileSync(path.join(compiled, 'errors.js'), path.join(root, 'src', 'errors.js'));
      fs.copyFileSync(path.join(compiled, 'native-addon.js'), path.join(root, 'src', 'native-addon.js'));
      fs.copyFileSync(path.join(compiled, 'tpm', 'binding.js'), path.join(root, 'src', 'tpm', 'binding.js'));
      const script = `try { require(${JSON.stringify(path.join(root, 'src', 'tpm', 'binding.js'))}).loadTpmBinding(); } catch (e) { process.stdout.write(JSON.stringify({ code: e.code, message: e.message })); }`;
      const env = { ...process.env };
      delete env['TLSSH_TPM_ADDON'];
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { env }).toString()) as { code: string; message: string };
      assert.equal(out.code, 'TLSSH_ERR_TPM_NATIVE_MISSING');
      assert.ok(out.message.includes(path.join(root, 'build', 'Release', 'tlssh_tpm.node')));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
