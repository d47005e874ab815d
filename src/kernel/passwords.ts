/** The password policy: registration (API.md: an empty or weak password is 400) and the ops account. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
/** The ops account's password needs a few more characters than a customer's. */
export const OPS_PASSWORD_MIN_LENGTH = 12;

const CHARACTER_CLASSES = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{Ll}\p{Lu}\p{Nd}]/u];

/**
 * What is wrong with a new password, `[]` when nothing: at least `minLength` characters (code points),
 * at most PASSWORD_MAX_LENGTH (hashing cost is bounded), and characters of at least two of the classes
 * lower-case letters, upper-case letters, digits, anything else.
 */
export function passwordProblems(password: string, minLength = PASSWORD_MIN_LENGTH): string[] {
  const length = [...password].length;
  const problems: string[] = [];
  if (length < minLength) problems.push(`must be at least ${minLength} characters`);
  if (length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  if (length > 0 && CHARACTER_CLASSES.filter((c) => c.test(password)).length < 2) {
    problems.push('must mix at least two of: lower-case letters, upper-case letters, digits, other characters');
  }
  return problems;
}
