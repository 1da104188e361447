/**
 * An admin's password reset: a one-time password, shown once, that the user
 * must change at the next sign-in. Their sessions end (and the session keys
 * made in them), and the account's failed sign-ins are forgotten, so the
 * user can sign in at once.
 */
import { updateUser } from "../data/users.ts";
import { randomBase64Url } from "../security/secrets.ts";
import type { Services } from "../services.ts";
import type { Actor } from "../core/actor.ts";
import { clearLoginFailures } from "./login.ts";

export async function issueOneTimePassword(
  svc: Services,
  actor: Actor,
  userId: number,
): Promise<{ email: string; password: string }> {
  const password = randomBase64Url(15);
  const user = await updateUser(svc, actor, userId, {
    password,
    mustChangePassword: true,
    active: true,
  });
  await clearLoginFailures(svc, { account: user.email, clientAddr: null });
  return { email: user.email, password };
}
