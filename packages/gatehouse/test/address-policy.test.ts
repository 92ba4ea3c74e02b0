import { describe, expect, it } from 'vitest';
import { isPublicUnicastAddress } from '../src/tenants/address-policy.ts';

const NON_PUBLIC = [
  // IPv4 special-purpose space, edges included
  '0.0.0.0',
  '0.255.255.255',
  '10.0.0.1',
  '10.255.255.255',
  '100.64.0.1',
  '100.127.255.255',
  '127.0.0.1',
  '127.255.255.254',
  '169.254.169.254',
  '169.254.0.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.0.0.1',
  '192.0.0.9',
  '192.0.2.1',
  '192.88.99.1',
  '192.168.0.1',
  '192.168.255.255',
  '198.18.0.1',
  '198.19.255.255',
  '198.51.100.7',
  '203.0.113.9',
  '224.0.0.1',
  '239.255.255.250',
  '240.0.0.1',
  '255.255.255.255',
  // IPv6 special-purpose space
  '::',
  '::1',
  'fc00::1',
  'fd00::1',
  'fdff:ffff::1',
  'fe80::1',
  'fe80::1%eth0',
  'febf::1',
  'fec0::1',
  'ff02::1',
  'ff05::1:3',
  '2001:db8::1',
  '2001:db8:ffff::1',
  '3fff::1',
  '100::1',
  '100::ffff:ffff:ffff:ffff',
  '2001::1', // Teredo
  '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo wrapping a public server address
  '2001:2::1', // benchmarking
  '::7f00:1', // IPv4-compatible 127.0.0.1
  '::8.8.8.8', // IPv4-compatible, deprecated even for public addresses
  // IPv4-mapped, every spelling
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '0:0:0:0:0:ffff:7f00:1',
  '::FFFF:7F00:1',
  '::ffff:10.0.0.1',
  '::ffff:169.254.169.254',
  '::ffff:0.0.0.0',
  '::ffff:0:127.0.0.1', // SIIT IPv4-translated (::ffff:0:0:0/96)
  // NAT64 wrapping private space, and the local-use NAT64 prefix
  '64:ff9b::7f00:1',
  '64:ff9b::127.0.0.1',
  '64:ff9b::a9fe:a9fe',
  '64:ff9b::10.1.2.3',
  '64:ff9b:1::8.8.8.8',
  '64:ff9b:1:ffff::1',
  // 6to4 wrapping private space
  '2002:7f00:1::1',
  '2002:a00:1::',
  '2002:a9fe:a9fe::1',
  '2002:c0a8:101::1',
  // Outside 2000::/3 entirely
  '4000::1',
  'e000::1',
];

const NOT_AN_ADDRESS = [
  '',
  'localhost',
  '127.1',
  '0x7f000001',
  '2130706433',
  '0177.0.0.1',
  '127.000.000.001',
  ' 8.8.8.8',
  '8.8.8.8 ',
  '[::1]',
  '8.8.8.8:443',
  '::ffff:127.0.0.1:80',
];

const PUBLIC = [
  '8.8.8.8',
  '1.1.1.1',
  '93.184.215.14',
  '100.63.255.255', // just below 100.64/10
  '100.128.0.0', // just above it
  '172.15.255.255',
  '172.32.0.1',
  '192.0.3.1',
  '198.17.255.255',
  '198.20.0.1',
  '223.255.255.254',
  '2606:4700::1111',
  '2001:4860:4860::8888',
  '2a00:1450:4001:80b::200e',
  '2001:200::1', // first regional allocation after the IETF /23
  '::ffff:8.8.8.8',
  '64:ff9b::808:808', // DNS64 answer for a public IPv4 host
  '64:ff9b::1.1.1.1',
  '2002:808:808::1', // 6to4 of a public address
];

describe('isPublicUnicastAddress', () => {
  it.each(NON_PUBLIC)('refuses special-purpose address %s', (ip) => {
    expect(isPublicUnicastAddress(ip)).toBe(false);
  });

  it.each(NOT_AN_ADDRESS)('refuses %j, which is not a canonical IP address', (text) => {
    expect(isPublicUnicastAddress(text)).toBe(false);
  });

  it.each(PUBLIC)('accepts public unicast address %s', (ip) => {
    expect(isPublicUnicastAddress(ip)).toBe(true);
  });
});
