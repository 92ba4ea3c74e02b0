import { randomBytes } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  RetiredKeyError,
  SealedValueError,
  UnopenableValueError,
  unopenableReason,
  Vault,
} from '../src/session/vault.ts';

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
    // Both are lost for good (a session holding one ends), each under its own reason.
    const retired = await new Vault([k2]).open(old).catch((error: unknown) => error);
    const damaged = await tampered.catch((error: unknown) => error);
    expect(retired).toBeInstanceOf(UnopenableValueError);
    expect(damaged).toBeInstanceOf(SealedValueError);
    expect(damaged).toBeInstanceOf(UnopenableValueError);
    expect(unopenableReason(retired as UnopenableValueError)).toBe('retired-key');
    expect(unopenableReason(damaged as UnopenableValueError)).toBe('unreadable');
  });

  it('lets onUnopened throw its own error for a failed check under a known kid (a key mismatch)', async () => {
    const sealed = await new Vault([k1]).seal(secret);
    const otherBytes = { kid: 'k1', key: randomBytes(32).toString('base64url') };
    const asked: string[] = [];
    const mismatch = new Error('this instance holds other bytes under k1');
    const vault = new Vault([otherBytes], {
      onUnopened: (kid) => {
        asked.push(kid);
        return Promise.reject(mismatch);
      },
    });
    await expect(vault.open(sealed)).rejects.toBe(mismatch);
    expect(asked).toEqual(['k1']);
    // Junk is no integrity check under a kid: not asked.
    await expect(vault.open('junk')).rejects.toBeInstanceOf(SealedValueError);
    expect(asked).toEqual(['k1']);
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

  describe('the format: compact JWE (dir, A256GCM) as jose writes and reads it', () => {
    const bytes = (k: { key: string }) => Buffer.from(k.key, 'base64url');
    const joseSeal = (value: unknown, header: Record<string, unknown>, k = k1) =>
      new CompactEncrypt(new TextEncoder().encode(JSON.stringify(value)))
        .setProtectedHeader(header as { alg: string; enc: string })
        .encrypt(bytes(k));

    it('opens what jose sealed (values stored before this vault, or by older instances)', async () => {
      const sealed = await joseSeal(secret, { alg: 'dir', enc: 'A256GCM', kid: 'k1' });
      expect(await new Vault([k2, k1]).open(sealed)).toEqual(secret);
      expect(new Vault([k1]).sealedWithCurrentKey(sealed)).toBe(true);
      expect(new Vault([k2, k1]).sealedWithCurrentKey(sealed)).toBe(false);
    });

    it('seals what jose opens, with the same protected header jose wrote', async () => {
      const vault = new Vault([k1]);
      const sealed = await vault.seal({ ...secret, text: 'päßwörd ✓' });
      const { plaintext, protectedHeader } = await compactDecrypt(sealed, bytes(k1), {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      expect(JSON.parse(new TextDecoder().decode(plaintext))).toEqual({
        ...secret,
        text: 'päßwörd ✓',
      });
      expect(protectedHeader).toEqual({ alg: 'dir', enc: 'A256GCM', kid: 'k1' });
      const joseHeader = (await joseSeal(secret, { alg: 'dir', enc: 'A256GCM', kid: 'k1' })).split(
        '.',
      )[0];
      expect(sealed.split('.')[0]).toBe(joseHeader);
      expect(sealed.split('.')[1]).toBe('');
      // A fresh IV each time: the same value never seals the same way twice.
      expect(await vault.seal(secret)).not.toBe(await vault.seal(secret));
    });

    it('refuses other algorithms and header members (zip, crit) even under a known key', async () => {
      const headers = [
        { alg: 'dir', enc: 'A128GCM', kid: 'k1' },
        { alg: 'A256KW', enc: 'A256GCM', kid: 'k1' },
        { alg: 'dir', enc: 'A256GCM', kid: 'k1', zip: 'DEF' },
        { alg: 'dir', enc: 'A256GCM', kid: 'k1', crit: ['exp'], exp: 1 },
      ];
      const vault = new Vault([k1]);
      for (const header of headers) {
        const encoded = Buffer.from(JSON.stringify(header)).toString('base64url');
        const rest = (await vault.seal(secret)).split('.').slice(1).join('.');
        await expect(vault.open(`${encoded}.${rest}`)).rejects.toBeInstanceOf(SealedValueError);
      }
      const noKid = await joseSeal(secret, { alg: 'dir', enc: 'A256GCM' });
      await expect(vault.open(noKid)).rejects.toBeInstanceOf(RetiredKeyError);
    });

    it('refuses a truncated tag, a short IV, an encrypted key, a swapped header and junk', async () => {
      const vault = new Vault([k1, k2]);
      const sealed = await vault.seal(secret);
      const [header = '', , iv = '', ciphertext = '', tag = ''] = sealed.split('.');
      const tag12 = Buffer.from(tag, 'base64url').subarray(0, 12).toString('base64url');
      const iv8 = Buffer.from(iv, 'base64url').subarray(0, 8).toString('base64url');
      const otherHeader = (await new Vault([k2]).seal(secret)).split('.')[0] ?? '';
      const forged = [
        `${header}..${iv}.${ciphertext}.${tag12}`,
        `${header}..${iv}.${ciphertext}.`,
        `${header}..${iv8}.${ciphertext}.${tag}`,
        `${header}.AAAA.${iv}.${ciphertext}.${tag}`,
        `${otherHeader}..${iv}.${ciphertext}.${tag}`,
        `${header}..${iv}.${ciphertext}.${tag}.`,
        `${header}..${iv}.${ciphertext}!.${tag}`,
        `${header}..${iv}.${ciphertext}`,
        `bm90IGpzb24..${iv}.${ciphertext}.${tag}`,
        `WzFd..${iv}.${ciphertext}.${tag}`,
        '....',
      ];
      for (const value of forged) {
        await expect(vault.open(value), value).rejects.toBeInstanceOf(SealedValueError);
      }
      await expect(vault.open(42 as unknown as string)).rejects.toBeInstanceOf(SealedValueError);
      expect(await vault.open(sealed)).toEqual(secret);
    });
  });
});
