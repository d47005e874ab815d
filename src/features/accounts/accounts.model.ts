import { z } from 'zod';
import { PASSWORD_MAX_LENGTH, passwordProblems } from '../../kernel/passwords';

/** An e-mail address as accounts store it: trimmed and lower-cased, so that it is unique whatever the case. */
export const Email = z.string().trim().toLowerCase().pipe(z.email().max(320));

/**
 * The e-mail of a new account: also within the lengths mail can be delivered to (RFC 5321: 254 in all,
 * 64 before the @, 63 a domain label). Only new accounts: one registered before these limits still logs in.
 */
const NewEmail = Email.pipe(
  z.string()
    .max(254)
    .refine((email) => email.slice(0, email.lastIndexOf('@')).length <= 64, 'at most 64 characters before the @')
    .refine((email) => email.slice(email.lastIndexOf('@') + 1).split('.').every((label) => label.length <= 63), 'at most 63 characters between dots of the domain'),
);

const NewPassword = z.string().superRefine((password, ctx) => {
  for (const message of passwordProblems(password)) ctx.addIssue({ code: 'custom', message });
});

/** `POST /api/auth/register`. Anything else in the body (a `role`, say) is ignored: every new account is a customer. */
export const RegisterBody = z.object({ email: NewEmail, password: NewPassword });
export type RegisterBody = z.infer<typeof RegisterBody>;

/** `POST /api/auth/login`. The password is only bounded: the policy applies to new passwords. */
export const LoginBody = z.object({ email: Email, password: z.string().min(1).max(PASSWORD_MAX_LENGTH * 4) });
export type LoginBody = z.infer<typeof LoginBody>;

export const RegisteredUser = z.object({ user_id: z.uuid() });

export const AccessToken = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  /** Seconds. */
  expires_in: z.number().int(),
});
