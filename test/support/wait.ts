/**
 * Waiting on state the test can see (the service's queue, a store call, a
 * log line, a socket message), never on a sleep that decides what is true:
 * `until` polls and throws, naming what it waited for, when the deadline
 * passes. The deadline is a failure, not an outcome.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
