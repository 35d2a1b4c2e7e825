// Per-source accounting: net blocks, PerSourceMaxStartups, and penalties that add up, pass the
// min threshold, stop at max and lapse, on a fake clock.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PER_SOURCE_PENALTIES } from '../../src/config/per-source-values';
import type { PerSourcePenalties } from '../../src/config/types';
import { PerSourceTable, exemptMatcher, netBlockOf, type PerSourceSettings } from '../../src/server/per-source';

function table(over: Partial<PerSourceSettings> = {}, penalties: Partial<PerSourcePenalties> = {}): { t: PerSourceTable; clock: { now: number } } {
  const clock = { now: 1000 };
  const t = new PerSourceTable({
    maxStartups: 'none',
    netBlockSize: { ipv4: 32, ipv6: 128 },
    exempt: [],
    ...over,
    penalties: { ...DEFAULT_PER_SOURCE_PENALTIES, ...penalties },
  }, () => clock.now);
  return { t, clock };
}

describe('netBlockOf', () => {
  it('masks IPv4 addresses to the block size', () => {
    assert.equal(netBlockOf('192.0.2.77', { ipv4: 32, ipv6: 128 }), '192.0.2.77/32');
    assert.equal(netBlockOf('192.0.2.77', { ipv4: 24, ipv6: 128 }), '192.0.2.0/24');
    assert.equal(netBlockOf('192.0.2.77', { ipv4: 20, ipv6: 128 }), '192.0.0.0/20');
    assert.equal(netBlockOf('192.0.2.77', { ipv4: 0, ipv6: 128 }), '0.0.0.0/0');
  });
  it('counts IPv4-mapped IPv6 addresses as IPv4', () => {
    assert.equal(netBlockOf('::ffff:127.0.0.2', { ipv4: 24, ipv6: 64 }), '127.0.0.0/24');
  });
  it('masks IPv6 addresses, with :: and embedded IPv4 forms', () => {
    const s = { ipv4: 32, ipv6: 64 };
    assert.equal(netBlockOf('2001:db8:1:2:3:4:5:6', s), '2001:db8:1:2::/64');
    assert.equal(netBlockOf('2001:db8:1:2::9', s), '2001:db8:1:2::/64');
    assert.equal(netBlockOf('2001:db8:1:2::9', { ipv4: 32, ipv6: 56 }), '2001:db8:1::/56');
    assert.equal(netBlockOf('2001:db8:1:2ff::9', { ipv4: 32, ipv6: 56 }), '2001:db8:1:200::/56');
    assert.equal(netBlockOf('::1', { ipv4: 32, ipv6: 128 }), '::1/128');
    assert.equal(netBlockOf('64:ff9b::192.0.2.1', { ipv4: 32, ipv6: 128 }), '64:ff9b::c000:201/128');
    // Two addresses in one /64 are one source; the next /64 is another.
    assert.equal(netBlockOf('2001:db8:0:1::a', s), netBlockOf('2001:db8:0:1:ffff::b', s));
    assert.notEqual(netBlockOf('2001:db8:0:1::a', s), netBlockOf('2001:db8:0:2::a', s));
  });
  it('gives nothing for what is not an address', () => {
    assert.equal(netBlockOf('', { ipv4: 32, ipv6: 128 }), undefined);
    assert.equal(netBlockOf('example.com', { ipv4: 32, ipv6: 128 }), undefined);
  });
});

describe('PerSourceMaxStartups', () => {
  it('limits each block on its own, and a released slot is free again', () => {
    const { t } = table({ maxStartups: 2, netBlockSize: { ipv4: 24, ipv6: 128 } });
    assert.equal(t.admit('10.0.0.1').ok, true);
    const second = t.admit('10.0.0.2');
    assert.equal(second.ok, true);
    const third = t.admit('10.0.0.3');
    assert.equal(third.ok, false);
    assert.equal(!third.ok && third.why, 'per-source');
    // Another block is not affected.
    assert.equal(t.admit('10.0.1.1').ok, true);
    t.release(second.block);
    assert.equal(t.admit('10.0.0.4').ok, true);
  });
  it('none means no per-source limit', () => {
    const { t } = table();
    for (let i = 0; i < 1000; i++) assert.equal(t.admit('10.0.0.1').ok, true);
    assert.equal(t.count('10.0.0.1/32'), 1000);
  });
});

describe('PerSourcePenalties', () => {
  it('enforces a penalty once it passes min, and lets it lapse', () => {
    const { t, clock } = table({}, { authfail: 5, min: 15 });
    for (let i = 0; i < 3; i++) assert.equal(t.penalise('192.0.2.1', 'authfail'), undefined, `penalty ${i + 1} is below min`);
    assert.equal(t.admit('192.0.2.1').ok, true);
    assert.match(t.penalise('192.0.2.1', 'authfail') ?? '', /192\.0\.2\.1\/32 refused for 20s \(authfail\)/);
    const r = t.admit('192.0.2.1');
    assert.equal(!r.ok && r.why, 'penalty');
    assert.equal(t.admit('192.0.2.2').ok, true, 'another source is not refused');
    clock.now += 19;
    assert.equal(t.admit('192.0.2.1').ok, false);
    clock.now += 1;
    assert.equal(t.admit('192.0.2.1').ok, true, 'lapsed after 20s');
    assert.equal(t.penalisedBlocks(), 0);
  });
  it('a single penalty over min is enforced at once; accumulation stops at max', () => {
    const { t, clock } = table({}, { crash: 90, max: 100 });
    assert.ok(t.penalise('198.51.100.7', 'crash'));
    for (let i = 0; i < 10; i++) t.penalise('198.51.100.7', 'crash');
    clock.now += 99;
    assert.equal(t.admit('198.51.100.7').ok, false);
    clock.now += 1;
    assert.equal(t.admit('198.51.100.7').ok, true);
  });
  it('penalises the whole net block', () => {
    const { t } = table({ netBlockSize: { ipv4: 24, ipv6: 48 } }, { noauth: 20 });
    t.penalise('203.0.113.5', 'noauth');
    assert.equal(t.admit('203.0.113.200').ok, false);
    assert.equal(t.admit('203.0.114.1').ok, true);
    t.penalise('2001:db8:5::1', 'noauth');
    assert.equal(t.admit('2001:db8:5:ffff::2').ok, false);
    assert.equal(t.admit('2001:db8:6::1').ok, true);
  });
  it('never penalises the exempt list, and "no" turns penalties off', () => {
    const { t } = table({ exempt: ['203.0.113.0/24', '2001:db8::1'] }, { noauth: 60 });
    t.penalise('203.0.113.5', 'noauth');
    t.penalise('::ffff:203.0.113.6', 'noauth');
    t.penalise('2001:db8::1', 'noauth');
    assert.equal(t.admit('203.0.113.5').ok, true);
    assert.equal(t.admit('2001:db8::1').ok, true);
    // Not recorded at all: a neighbour in the same /64 as the exempt address is not refused for it.
    assert.equal(t.penalisedBlocks(), 0);
    assert.equal(t.admit('2001:db8::2').ok, true);
    t.penalise('203.0.114.5', 'noauth');
    assert.equal(t.admit('203.0.114.5').ok, false);
    const off = table({}, { enabled: false, noauth: 60 }).t;
    off.penalise('203.0.114.5', 'noauth');
    assert.equal(off.admit('203.0.114.5').ok, true);
  });
  it('a full table makes room (permissive) or refuses everyone not exempt (deny-all)', () => {
    const p = table({}, { noauth: 60, maxSources4: 2 }).t;
    p.penalise('10.0.0.1', 'noauth');
    p.penalise('10.0.0.2', 'noauth');
    p.penalise('10.0.0.3', 'noauth');
    assert.equal(p.penalisedBlocks(), 2);
    assert.equal(p.admit('10.0.0.9').ok, true);
    const { t: d } = table({ exempt: ['10.9.9.9'] }, { noauth: 60, maxSources4: 2, overflow: 'deny-all', overflow6: 'permissive' });
    d.penalise('10.0.0.1', 'noauth');
    d.penalise('10.0.0.2', 'noauth');
    assert.match(d.penalise('10.0.0.3', 'noauth') ?? '', /table full/);
    assert.equal(d.admit('10.0.0.9').ok, false);
    assert.equal(d.admit('10.9.9.9').ok, true, 'the exempt list still gets in');
    assert.equal(d.admit('2001:db8::1').ok, true, 'IPv6 is tracked separately');
  });
});

describe('exemptMatcher', () => {
  it('matches addresses and CIDR blocks of both families', () => {
    const m = exemptMatcher(['127.0.0.1', '10.0.0.0/8', '2001:db8::/32']);
    assert.equal(m('127.0.0.1'), true);
    assert.equal(m('::ffff:127.0.0.1'), true);
    assert.equal(m('127.0.0.2'), false);
    assert.equal(m('10.200.1.1'), true);
    assert.equal(m('2001:db8:ffff::1'), true);
    assert.equal(m('2001:db9::1'), false);
  });
});
