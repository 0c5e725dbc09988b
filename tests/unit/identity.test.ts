/**
 * Keyed hashing of identifiers: the same raw id always maps to the same stored name under one
 * pepper (or velocity would never add up), and nothing of the raw id survives into Redis or logs.
 */
import { describe, expect, it } from 'vitest';
import { ENTITY_KINDS } from '../../lib/events.js';
import { IdentityHasher, canonicalIp } from '../../lib/identity.js';

const A = new IdentityHasher('pepper-a-0123456789abcdef');
const B = new IdentityHasher('pepper-b-0123456789abcdef');
const RAW = 'appleid:customer@example.com';

describe('IdentityHasher', () => {
  it('is deterministic per pepper, also across instances', () => {
    expect(A.entity('account', RAW)).toBe(A.entity('account', RAW));
    expect(new IdentityHasher('pepper-a-0123456789abcdef').entity('account', RAW)).toBe(A.entity('account', RAW));
    expect(A.event('generic', 'evt_1')).toBe(new IdentityHasher('pepper-a-0123456789abcdef').event('generic', 'evt_1'));
  });

  it('differs per pepper (a leaked store is useless without the pepper)', () => {
    expect(A.entity('account', RAW)).not.toBe(B.entity('account', RAW));
    expect(A.event('generic', 'evt_1')).not.toBe(B.event('generic', 'evt_1'));
  });

  it('differs per kind, so the same raw id as an account and as a device are different entities', () => {
    const names = ENTITY_KINDS.map((kind) => A.entity(kind, 'shared-id-123'));
    expect(new Set(names).size).toBe(ENTITY_KINDS.length);
  });

  it('keeps the provider and the event id apart: ("ab","c") and ("a","bc") differ', () => {
    expect(A.event('ab', 'c')).not.toBe(A.event('a', 'bc'));
    expect(A.event('generic', 'evt_1')).not.toBe(A.event('other', 'evt_1'));
    expect(A.event('generic', 'evt_1')).not.toBe(A.event('generic', 'evt_2'));
  });

  it('never contains the raw id', () => {
    for (const raw of ['alipay_2088000000000001', 'device_abc', '203.0.113.10', 'evt_42']) {
      for (const kind of ENTITY_KINDS) expect(A.entity(kind, raw)).not.toContain(raw);
      expect(A.event('generic', raw)).not.toContain(raw);
    }
  });

  it('has a fixed length: 96 bits as 16 base64url characters, whatever the input length', () => {
    const inputs = ['x', RAW, 'y'.repeat(256), '商户-账户-一'];
    for (const raw of inputs) {
      expect(A.entity('account', raw)).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(Buffer.from(A.entity('account', raw), 'base64url')).toHaveLength(12);
    }
    expect(A.event('generic', RAW)).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('treats IP addresses case-insensitively (IPv6 hex digits), and only IP addresses', () => {
    expect(A.entity('ip', '2001:DB8::AB')).toBe(A.entity('ip', '2001:db8::ab'));
    // Provider ids are case-sensitive: ABC and abc may be different accounts.
    expect(A.entity('account', 'ABC-1')).not.toBe(A.entity('account', 'abc-1'));
    expect(A.entity('device', 'ABC-1')).not.toBe(A.entity('device', 'abc-1'));
  });
});

describe('canonicalIp', () => {
  it('gives one spelling per address, so one address is one entity', () => {
    const hasher = new IdentityHasher('canonical-ip-test-pepper');
    const same = (a: string, b: string) => expect(hasher.entity('ip', a)).toBe(hasher.entity('ip', b));
    same('::ffff:203.0.113.10', '203.0.113.10');
    same('::FFFF:CB00:710A', '203.0.113.10');
    same('2001:DB8:0:0:0:0:0:1', '2001:db8::1');
    expect(canonicalIp('2001:0db8:0000::0001')).toBe('2001:db8::1');
    expect(hasher.entity('ip', '2001:db8::1')).not.toBe(hasher.entity('ip', '2001:db8::2'));
  });

  it('keeps what is not an IP address as given (lower-cased) rather than failing', () => {
    expect(canonicalIp('not:an:ip:::x')).toBe('not:an:ip:::x');
    expect(canonicalIp('Host.Example')).toBe('host.example');
  });
});
