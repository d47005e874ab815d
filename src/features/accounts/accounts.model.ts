import { z } from 'zod';
import { DeliverableEmail } from '../../http/schemas';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblems } from '../../kernel/passwords';

/** An e-mail address as accounts store it: trimmed and lower-cased, so that it is unique whatever the case. */
export const Email = z.string().trim().toLowerCase().pipe(z.email().max(320)).meta({ format: 'email' });

/** The e-mail of a new account: deliverable. Only new accounts: one registered before these limits still logs in. */
const NewEmail = Email.pipe(DeliverableEmail).meta({ format: 'email', maxLength: 254 });

const NewPassword = z.string().superRefine((password, ctx) => {
  for (const message of passwordProblems(password)) ctx.addIssue({ code: 'custom', message });
}).meta({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH, description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, of at least two of: lower-case letters, upper-case letters, digits, other characters` });

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
