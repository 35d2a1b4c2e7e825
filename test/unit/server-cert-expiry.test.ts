import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { MAX_TIMER_MS, expiryWarning, followCertificate, watchCertificateExpiry } from '../../src/server/cert-expiry';

const DAY = 24 * 3600 * 1000;

describe('certificate expiry in a session', () => {
  let clock = 0;
  const now = (): number => clock;
  /** Advances the mocked timers and the clock the watch reads together, a step at a time. */
  const advance = (ms: number, step = DAY / 4): void => {
    for (let done = 0; done < ms;) {
      const d = Math.min(step, ms - done);
      clock += d;
      mock.timers.tick(d);
      done += d;
    }
  };
  beforeEach(() => {
    clock = 1_000_000;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  it('says the lead in words', () => {
    assert.equal(expiryWarning(300_000), 'tlssh: your certificate expires in 5 minutes; this session will end then');
    assert.equal(expiryWarning(70_000), 'tlssh: your certificate expires in 1 minute; this session will end then');
    assert.equal(expiryWarning(42_000), 'tlssh: your certificate expires in 42 seconds; this session will end then');
  });

  it('follows a certificate past setTimeout\'s 24.8-day limit: nothing early, the warning, then the end', () => {
    const events: string[] = [];
    const lifetime = 60 * DAY;
    assert.ok(lifetime > MAX_TIMER_MS);
    watchCertificateExpiry({
      notAfter: new Date(clock + lifetime), warnLeadMs: 300_000, now,
      onWarn: (l) => events.push(l), onExpire: () => events.push('end'),
    });
    advance(lifetime - 300_001);
    assert.deepEqual(events, []);
    advance(1, 1);
    assert.deepEqual(events, ['tlssh: your certificate expires in 5 minutes; this session will end then']);
    advance(299_998, 1000);
    assert.equal(events.length, 1);
    advance(2, 1);
    assert.deepEqual(events.slice(1), ['end']);
  });

  it('warns at once when less than the lead is left at login, and stop() disarms', () => {
    const events: string[] = [];
    const w = watchCertificateExpiry({ notAfter: new Date(clock + 60_000), warnLeadMs: 300_000, now, onWarn: (l) => events.push(l), onExpire: () => events.push('end') });
    assert.deepEqual(events, ['tlssh: your certificate expires in 1 minute; this session will end then']);
    w.stop();
    advance(120_000, 1000);
    assert.equal(events.length, 1);
  });

  it('holds the warning until the session has an output, and does nothing when off', () => {
    const lines: string[] = [];
    const ended: string[] = [];
    const s = followCertificate({ mode: 'end', warnLead: 300, notAfter: new Date(Date.now() + 30_000), end: (m) => ended.push(m), log: () => undefined });
    s.attachOutput((l) => lines.push(l));
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^tlssh: your certificate expires in \d+ seconds; this session will end then$/);
    s.stop();
    const off = followCertificate({ mode: 'off', warnLead: 300, notAfter: new Date(Date.now() + 30_000), end: (m) => ended.push(m), log: () => undefined });
    off.attachOutput((l) => lines.push(l));
    advance(60_000, 1000);
    assert.equal(lines.length, 1);
    assert.deepEqual(ended, []);
  });
});

describe('certificate expiry with real timers', () => {
  it('warns every session of a shared connection, each once; one that starts later gets its own line; a closed one nothing', async () => {
    const got: Record<string, string[]> = { a: [], b: [], c: [], closed: [] };
    let warned!: () => void;
    const logged = new Promise<void>((r) => { warned = r; });
    const ended: string[] = [];
    // Warned 0.5 s from now, ended 2 s from now; stopped long before that.
    const s = followCertificate({ mode: 'end', warnLead: 1.5, notAfter: new Date(Date.now() + 2000), end: (m) => ended.push(m), log: () => warned() });
    s.attachOutput((l) => got['a']!.push(l));
    s.attachOutput((l) => got['b']!.push(l));
    const detach = s.attachOutput((l) => got['closed']!.push(l));
    detach();
    // The watch's timers are unref'd (they never keep a worker alive): hold the loop meanwhile.
    const hold = setInterval(() => undefined, 1000);
    await logged;
    clearInterval(hold);
    s.attachOutput((l) => got['c']!.push(l));
    s.stop();
    for (const k of ['a', 'b', 'c']) {
      assert.equal(got[k]!.length, 1, k);
      assert.match(got[k]![0]!, /^tlssh: your certificate expires in \d+ seconds?; this session will end then$/);
    }
    assert.deepEqual(got['closed'], []);
    assert.deepEqual(ended, []);
  });

  it('a certificate valid for 60 days neither warns nor ends now (a plain setTimeout would overflow and fire at once)', async () => {
    const events: string[] = [];
    const w = watchCertificateExpiry({ notAfter: new Date(Date.now() + 60 * DAY), warnLeadMs: 300_000, onWarn: (l) => events.push(l), onExpire: () => events.push('end') });
    await new Promise((r) => setTimeout(r, 50));
    w.stop();
    assert.deepEqual(events, []);
  });
});
