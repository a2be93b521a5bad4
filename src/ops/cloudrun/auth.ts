import { GoogleAuth } from 'google-auth-library';
import { CloudRunError } from './errors.js';

const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

/**
 * Access tokens from Application Default Credentials (the gcloud login on a
 * workstation, the service account on Cloud Build / Cloud Run). Lazy: nothing
 * is looked up until the first call, so a --dry-run against a fake or a
 * command that never calls Cloud Run needs no credentials. google-auth-library
 * caches and refreshes the token itself.
 */
export function googleAccessToken(): () => Promise<string> {
  let auth: GoogleAuth | undefined;
  return async () => {
    auth ??= new GoogleAuth({ scopes: SCOPES });
    let token: string | null | undefined;
    try {
      token = await auth.getAccessToken();
    } catch (error) {
      throw noCredentials(error instanceof Error ? error.message : String(error));
    }
    if (!token) throw noCredentials('no access token came back');
    return token;
  };
}

function noCredentials(why: string): CloudRunError {
  return new CloudRunError(
    `Getting a Google access token for the Cloud Run Admin API failed: ${why}. `
      + 'Set up Application Default Credentials: run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS '
      + 'to a service account key file; the account needs the role roles/run.developer.',
    401,
    'UNAUTHENTICATED',
  );
}
