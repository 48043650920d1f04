// What the Apps screens share: an app's state and health as badges, the engine's state in
// words, and the address of an app's own web UI as this browser reaches the box.
import { html } from 'lit';
import { call } from '../lib/api.js';

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

// Whether the engine's service is starting, from the tree's services
export function engineStarting(tree) {
  const active = tree?.services?.docker?.active;
  return active === 'activating' || active === 'active';
}

// A way to start the engine where rockd runs Docker (through `view.act`), or what to install
export function startEngine(tree, view) {
  if (!tree?.services?.docker?.available) {
    return html`<p class="muted">Docker is not installed on this box (no dockerd): install it
      (Debian: the docker.io package), then come back here.</p>`;
  }
  return html`<div class="actions">
    <button type="button" class="primary" ?disabled=${view.busy || engineStarting(tree)}
      @click=${() => view.act(() => call('POST', '/services/docker/start'))}>
      Start the Docker engine</button></div>`;
}

// the engine's state in words, as a line above the apps, with a way to start it when it is
// down (what rockd saw when it last tried to reach it is folded away: it is for diagnosis)
export function engineLine(tree, view) {
  const engine = tree?.['apps-engine'];
  if (!engine) return html`<p class="muted">Waiting for the Docker engine's state…</p>`;
  if (engine.state === 'up') {
    return html`<p class="muted engine-state" data-engine="up">Docker ${engine.version}
      is running (API ${engine.api_version}).</p>`;
  }
  const said = engineStarting(tree) ? 'starting' : engine.state === 'down' ? 'not running'
    : 'not connected yet';
  return html`<div class="engine-state engine-down" role="status" data-engine=${engine.state}>
    <p><strong>The Docker engine is ${said}.</strong> Apps cannot be installed or controlled
      until it runs; rockd connects to it by itself as soon as it is up.</p>
    ${startEngine(tree, view)}
    ${engine.error ? html`<details><summary>What rockd saw</summary>
      <small>${engine.error}</small></details>` : ''}</div>`;
}
