// Endpoints in messages and logs: a service URL without its password.

/** `url` without its password; a unix socket path as is; `<service> (unparsable URL)` otherwise. */
export function redactUrl(url: string, service: string): string {
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '';
    return parsed.href;
  } catch {
    return `${service} (unparsable URL)`;
  }
}
