import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RetiredKeyError, Vault } from '../src/session/vault.ts';

const key = (kid: string) => ({ kid, key: randomBytes(32).toString('base64url') });

describe('Vault (tokens at rest)', () => {
  const k1 = key('k1');
  const k2 = key('k2');
  const secret = { accessToken: 'at-value-123', refreshToken: 'rt-value-456' };

  it('round-trips and hides the plaintext', async () => {
    const vault = new Vault([k1]);
    const sealed = await vault.seal(secret);
    expect(sealed).not.toContain('at-value-123');
    expect(Buffer.from(sealed.split('.').join(''), 'base64url').toString('latin1')).not.toContain(
      'rt-value-456',
    );
    expect(await vault.open(sealed)).toEqual(secret);
  });

  it('rotates: a new first key seals, older keys still open, dropped keys do not', async () => {
    const old = await new Vault([k1]).seal(secret);
    const rotated = new Vault([k2, k1]);
    expect(await rotated.open(old)).toEqual(secret);
    const fresh = await rotated.seal(secret);
    expect(
      JSON.parse(Buffer.from(fresh.split('.')[0] ?? '', 'base64url').toString()) as { kid: string },
    ).toMatchObject({ kid: 'k2' });
    await expect(new Vault([k2]).open(old)).rejects.toThrow();
    expect(await new Vault([k2]).open(fresh)).toEqual(secret);
  });

  it('seals with the first key only: a key added second opens, and is not used yet', async () => {
    const added = new Vault([k1, k2]);
    const sealed = await added.seal(secret);
    expect(await new Vault([k1]).open(sealed)).toEqual(secret);
    expect(await added.open(await new Vault([k2]).seal(secret))).toEqual(secret);
  });

  it('tells a retired key (RetiredKeyError) apart from tampering', async () => {
    const old = await new Vault([k1]).seal(secret);
    await expect(new Vault([k2]).open(old)).rejects.toBeInstanceOf(RetiredKeyError);
    const parts = old.split('.');
    const ciphertext = Buffer.from(parts[3] ?? '', 'base64url');
    ciphertext[0] = (ciphertext[0] ?? 0) ^ 1;
    parts[3] = ciphertext.toString('base64url');
    const tampered = new Vault([k1]).open(parts.join('.'));
    await expect(tampered).rejects.toThrow();
    await expect(tampered).rejects.not.toBeInstanceOf(RetiredKeyError);
  });

  it('refuses tampering and foreign keys', async () => {
    const sealed = await new Vault([k1]).seal(secret);
    const parts = sealed.split('.');
    const ciphertext = Buffer.from(parts[3] ?? '', 'base64url');
    ciphertext[0] = (ciphertext[0] ?? 0) ^ 1;
    parts[3] = ciphertext.toString('base64url');
    await expect(new Vault([k1]).open(parts.join('.'))).rejects.toThrow();
    await expect(new Vault([{ kid: 'k1', key: k2.key }]).open(sealed)).rejects.toThrow();
    await expect(new Vault([k1]).open('not-a-jwe')).rejects.toThrow();
  });

  it('refuses keys of the wrong size and an empty key list', () => {
    expect(() => new Vault([])).toThrow();
    expect(
      () => new Vault([{ kid: 'short', key: randomBytes(16).toString('base64url') }]),
    ).toThrow();
  });
});
