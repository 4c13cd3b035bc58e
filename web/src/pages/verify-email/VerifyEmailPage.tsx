import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { AuthService } from "../../gen/insights/v1/auth_pb";
import { client } from "../../api/client";
import { toProblem } from "../../api/errors";
import { session } from "../../app/auth";
import { navigate } from "../../app/router";
import type { PageProps } from "../../app/routes";
import { Spinner } from "../../components/ui";

export default function VerifyEmailPage({ search }: PageProps): JSX.Element {
  const token = new URLSearchParams(search).get("token") ?? "";
  const [error, setError] = useState<string | null>(token ? null : "This link has no verification token. Open the link from the email again.");
  const started = useRef(false);
  useEffect(() => {
    // The token is single-use: verify once, even if the page renders twice.
    if (!token || started.current) return;
    started.current = true;
    client(AuthService)
      .verifyEmail({ token })
      .then((res) => {
        // The address bar must not keep the spent token.
        session.signIn(res);
        navigate("/?welcome=1", { replace: true });
      })
      .catch((e: unknown) => setError(toProblem(e).message));
  }, [token]);
  return (
    <div class="auth-card">
      <h1>Verifying your email</h1>
      {error ? (
        <>
          <p class="form-error" role="alert">{error}</p>
          <p class="muted">Verification links are valid for 24 hours and work once. <a href="/register">Register again</a> to get a new one.</p>
        </>
      ) : (
        <Spinner label="Creating your account" />
      )}
    </div>
  );
}
