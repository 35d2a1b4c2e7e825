// ControlPath's %-tokens, expanded as ssh_config(5) says, and a path too long for a socket refused.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { controlPathContext, expandControlPath, type ControlPathContext } from '../../src/client/control-path';

const CTX: ControlPathContext = {
  hostAsTyped: 'web', hostName: 'web.example.com', port: 232, remoteUser: 'deploy', localUser: 'alice',
  home: '/home/alice', uid: 1000, localHost: 'laptop.corp',
};

describe('ControlPath expansion', () => {
  it('expands %h %n %p %r %u %l %L %d %i %% and ~/', () => {
    assert.equal(expandControlPath('~/.tlssh/%r@%h:%p', CTX), '/home/alice/.tlssh/deploy@web.example.com:232');
    assert.equal(expandControlPath('%d/cm/%n-%u-%i-%l-%L-100%%', CTX), '/home/alice/cm/web-alice-1000-laptop.corp-laptop-100%');
  });

  it('%C is the SHA-1 of %l%h%p%r, as ssh', () => {
    const want = createHash('sha1').update('laptop.corpweb.example.com232deploy').digest('hex');
    assert.equal(expandControlPath('/run/cm/%C', CTX), `/run/cm/${want}`);
    assert.notEqual(expandControlPath('/run/cm/%C', { ...CTX, port: 2232 }), `/run/cm/${want}`);
  });

  it('%h is the host lower-cased, as ssh has it; %n is as typed', () => {
    const ctx = controlPathContext({ host: 'DB1', HostName: 'DB1.Example.COM', Port: 232, User: 'deploy' });
    assert.equal(expandControlPath('/run/cm/%h %n', ctx), '/run/cm/db1.example.com DB1');
  });

  it('none is no sharing; a path too long for sun_path is refused', () => {
    assert.equal(expandControlPath('none', CTX), undefined);
    assert.throws(() => expandControlPath(`/tmp/${'x'.repeat(100)}/%h`, CTX), (e: unknown) => (e as { code?: string }).code === 'TLSSH_ERR_USAGE');
  });
});
