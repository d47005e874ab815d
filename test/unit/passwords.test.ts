import { describe, expect, it } from 'bun:test';
import { OPS_PASSWORD_MIN_LENGTH, passwordProblems } from '../../src/kernel/passwords';
import { hashPassword, verifyPassword } from '../../src/features/accounts/accounts.passwords';

describe('the password policy', () => {
  it('accepts 8 characters or more from at least two classes', () => {
    for (const password of ['secret12', 'Passw0rd', 'password123', 'Sup3r-secret!', 'correct horse battery', 'ñandú-2030']) {
      expect([password, passwordProblems(password)]).toEqual([password, []]);
    }
  });

  it('refuses short passwords, a single class of characters, and overlong ones', () => {
    expect(passwordProblems('')).toEqual(['must be at least 8 characters']);
    expect(passwordProblems('Sh0rt!1')).toEqual(['must be at least 8 characters']);
    for (const password of ['password', '12345678', 'ONLYUPPERCASE', '          ', '!!!!!!!!!!']) {
      expect([password, passwordProblems(password)]).toEqual([password, ['must mix at least two of: lower-case letters, upper-case letters, digits, other characters']]);
    }
    expect(passwordProblems(`a1${'x'.repeat(255)}`)).toEqual(['must be at most 256 characters']);
  });

  it('counts characters, not UTF-16 units, and asks more of the ops account', () => {
    expect(passwordProblems('😀😀😀😀a1b')).toEqual(['must be at least 8 characters']);
    expect(passwordProblems('Passw0rd-1', OPS_PASSWORD_MIN_LENGTH)).toEqual(['must be at least 12 characters']);
  });
});

describe('password hashes', () => {
  const composed = 'Caf\u00e9-1234';
  const decomposed = 'Cafe\u0301-1234';

  it('take a password however its accented letters are encoded (Unicode NFKC): another keyboard or system still logs in', async () => {
    const hash = await hashPassword(composed);
    expect(await verifyPassword(decomposed, hash)).toBe(true);
    expect(await verifyPassword(composed, hash)).toBe(true);
    expect(await verifyPassword('Cafe-1234', hash)).toBe(false);
  });

  it('still verify a password hashed as it was typed, before hashes were normalised', async () => {
    const legacy = await Bun.password.hash(decomposed, { algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 });
    expect(await verifyPassword(decomposed, legacy)).toBe(true);
    expect(await verifyPassword('Caf-1234', legacy)).toBe(false);
    expect(await verifyPassword(decomposed, undefined)).toBe(false);
  });
});
