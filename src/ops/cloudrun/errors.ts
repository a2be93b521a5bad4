/**
 * What went wrong talking to the Cloud Run Admin API, said so an operator can
 * act on it: what petcut was doing, what Cloud Run answered, what to check.
 */
export class CloudRunError extends Error {
  override name = 'CloudRunError';

  constructor(
    message: string,
    /** The HTTP status Cloud Run answered (0: no answer at all). */
    readonly status: number,
    /** Google's status name (`NOT_FOUND`, `PERMISSION_DENIED`...), when Cloud Run gave one. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** The service changed since it was read (its etag no longer matches): read it again and retry. */
export class EtagConflictError extends CloudRunError {
  override name = 'EtagConflictError';
}

/** What Cloud Run said, from a google.rpc.Status error body. */
export interface GoogleProblem {
  readonly status: number;
  readonly reason?: string;
  readonly message?: string;
}

/** Where a request went, for the hints (a 404 names the project, region and service to check). */
export interface Target {
  readonly project: string;
  readonly region: string;
  readonly service: string;
}

function hint(problem: GoogleProblem, target: Target): string {
  const { status, reason } = problem;
  if (status === 0) return 'Check the network path to the Cloud Run Admin API (proxy, firewall, DNS).';
  if (status === 401 || status === 403) {
    return 'Check the credentials: run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a service account key), '
      + `and that the account has the role roles/run.developer on project ${target.project}.`;
  }
  if (status === 404) return `Check the project (${target.project}), the region (${target.region}) and the service name (${target.service}).`;
  if (reason === 'ALREADY_EXISTS') return 'A revision with that name already exists: choose another template.revision, or leave it empty and Cloud Run picks one.';
  if (status === 409 || status === 412) return 'Someone else changed the service since it was read: read it again and retry.';
  if (status === 429 || status >= 500) return 'Cloud Run is throttling or unavailable: retry in a minute.';
  return 'Check the request against the service as it is now (`gcloud run services describe`).';
}

/** One message: doing what, Cloud Run's answer, and what to check. */
export function describeProblem(doing: string, problem: GoogleProblem, target: Target): string {
  const answer = problem.status === 0
    ? 'no answer from Cloud Run'
    : `Cloud Run answered HTTP ${problem.status}${problem.reason ? ` ${problem.reason}` : ''}${problem.message ? `: ${problem.message}` : ''}`;
  return `${doing} failed: ${answer}. ${hint(problem, target)}`;
}

export function cloudRunError(doing: string, problem: GoogleProblem, target: Target): CloudRunError {
  return new CloudRunError(describeProblem(doing, problem, target), problem.status, problem.reason);
}
