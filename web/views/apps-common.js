// What the Apps screens share: an app's state and health as badges, the engine's state in
// words, and the address of an app's own web UI as this browser reaches the box.
import { html } from 'lit';

const TONE = { running: 'good', broken: 'bad', partial: 'bad', unknown: 'bad' };
const HEALTH_TONE = { healthy: 'good', unhealthy: 'bad' };

// The address of an app's web UI as this browser reaches the box: the app's port and path on
// the host the browser already talks to.
export function uiUrl(app) {
  if (!app?.ui) return null;
  return `${app.ui.scheme}://${location.hostname}:${app.ui.port}${app.ui.path}`;
}

export function stateBadge(state) {
  return html`<span class="badge app-state ${TONE[state] ?? ''}">${state}</span>`;
}

export function healthBadge(health) {
  return health
    ? html`<span class="badge ${HEALTH_TONE[health] ?? ''}">${health}</span>` : '';
}

// the engine's state in words, as a line above the apps
export function engineLine(engine) {
  if (!engine) return html`<p class="muted">Waiting for the Docker engine's state…</p>`;
  if (engine.state === 'up') {
    return html`<p class="muted engine-state" data-engine="up">Docker ${engine.version}
      is running (API ${engine.api_version}).</p>`;
  }
  return html`<p class="engine-state engine-down" role="status" data-engine=${engine.state}>
    <strong>The Docker engine is ${engine.state === 'down' ? 'not running' : 'not connected yet'}.</strong>
    Apps cannot be installed or controlled until it is; rockd finds it again by itself.
    ${engine.error ? html`<br><small>${engine.error}</small>` : ''}</p>`;
}
