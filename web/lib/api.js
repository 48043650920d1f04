// Calls to rockd's REST API with the session cookie and the CSRF header; errors carry the
// API's own message, which the views show as it is, and the field it names (detail.field).

let csrf = document.querySelector('meta[name="rockd-csrf"]')?.content ?? '';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `the request failed (HTTP ${status})`);
    this.status = status;
    this.code = body?.error?.code;
    this.detail = body?.error?.detail ?? {};
    this.field = this.detail.field ?? '';
  }
}

export async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, { error: { message: 'rockd cannot be reached; check the connection.' } });
  }
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new Event('rockd-signed-out'));
    throw new ApiError(response.status, data);
  }
  if (data && typeof data.csrf === 'string') csrf = data.csrf;
  return data;
}

export function forget() {
  csrf = '';
}
