/**
 * A Slack-compatible incoming webhook (`{"text": ...}`; Google Chat and
 * Mattermost take the same body). The URL is a secret: it comes from the
 * environment (PETCUT_ROLLOUT_WEBHOOK), never from argv or the rollout file.
 */
export function createWebhook(url: string, timeoutMs = 5000): (text: string) => Promise<void> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new Error('PETCUT_ROLLOUT_WEBHOOK: not a URL (expected https://hooks.slack.com/services/...)');
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error('PETCUT_ROLLOUT_WEBHOOK: only http and https URLs are allowed');
  return async (text) => {
    const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }), signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`the webhook answered HTTP ${response.status}`);
  };
}
