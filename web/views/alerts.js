// Alerts (#/alerts): what rockd found wrong, live from /alerts in the tree (acknowledge each),
// and how the owner is told: email over SMTP, webhooks, the thresholds of fullness, a test of
// each channel, and this browser's own notifications. Also the bell's count, the dashboard's
// list and the notifications of new alerts, which the app and the dashboard take from here.
import { html, svg } from 'lit';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { href } from '../lib/router.js';
import { View, fields } from '../lib/view.js';

const RANK = { critical: 0, warning: 1, info: 2 };
const TONE = { critical: 'bad', warning: 'warn', info: '' };
const BELL = svg`<svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"
  fill="currentColor"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7
  7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"/></svg>`;
// the screens that show a resource of the tree (an alert's subject links there)
const SHOWN = new Set(['pools', 'disks', 'shares', 'jobs', 'services', 'replication']);

// an alert's subject as a person names it ("pool tank"), linked to its screen
function subjectLink(tree, subject) {
  const [kind, id] = subject.split('/').slice(1);
  if (!SHOWN.has(kind)) return subject;
  const target = kind === 'services' || kind === 'replication' ? href(kind) : href(kind, id);
  const name = tree?.[kind]?.[id]?.name ?? id ?? kind;
  const noun = kind === 'replication' ? 'replication' : kind.replace(/s$/, '');
  return html`<a href=${target}>${noun} ${name}</a>`;
}

// the alerts not cleared, the worst and newest first
export function activeAlerts(tree) {
  return Object.values(tree?.alerts ?? {}).filter((a) => !a.cleared)
    .sort((a, b) => RANK[a.severity] - RANK[b.severity] || b.first_seen.localeCompare(a.first_seen));
}

// how many active alerts no one has acknowledged (the bell's number)
export function unacknowledged(tree) {
  return activeAlerts(tree).filter((a) => !a.acknowledged).length;
}

// The header's bell: a link to the alerts, with the count of those to look at.
export function bell(tree) {
  const count = unacknowledged(tree);
  const label = count ? `${count} alert${count === 1 ? '' : 's'} to look at` : 'Alerts: none';
  return html`<a class="bell ${count ? 'ringing' : ''}" href="#/alerts" aria-label=${label}
    title=${label}>${BELL}${count
      ? html`<span class="count" aria-hidden="true">${count}</span>` : ''}</a>`;
}

// Tell the browser of alerts (warning or worse) it has not seen since the page loaded; the
// first call only learns what is there already.
export function notifyNew(tree, seen) {
  const first = seen.size === 0 && !seen.started;
  seen.started = true;
  for (const alert of activeAlerts(tree)) {
    if (seen.has(alert.id)) continue;
    seen.add(alert.id);
    if (first || alert.severity === 'info' || !('Notification' in window)) continue;
    if (Notification.permission !== 'granted') continue;
    // eslint-disable-next-line no-new
    new Notification(`rockd: ${alert.severity}`, { body: alert.message, tag: alert.id });
  }
}

function row(tree, alert, view) {
  return html`<li class="alert" data-alert=${alert.id} data-kind=${alert.kind}>
    <span class="badge ${alert.cleared ? 'good' : TONE[alert.severity]}">${alert.cleared
      ? 'cleared' : alert.severity}</span>
    <span class="alert-text">${alert.message}
      <small class="muted">${subjectLink(tree, alert.subject)} · since ${when(alert.first_seen)}${alert.cleared
        ? html` · cleared ${when(alert.cleared)}` : ''}</small></span>
    ${view && !alert.acknowledged && !alert.cleared ? html`<button
      @click=${() => view.acknowledge(alert)} ?disabled=${view.busy}>Acknowledge</button>`
      : alert.acknowledged ? html`<span class="muted">acknowledged</span>` : ''}
  </li>`;
}

// The dashboard's card: the active alerts (at most `limit`), each with its words.
export function alertsCard(tree, limit = 5) {
  const active = activeAlerts(tree);
  return html`<section class="card alerts-card">
    <h2><a href="#/alerts">Alerts</a></h2>
    ${active.length ? html`<ul class="alerts">${active.slice(0, limit).map((a) => row(tree, a))}</ul>
      ${active.length > limit ? html`<p><a href="#/alerts">${active.length - limit} more</a></p>`
        : ''}` : html`<p class="ok">Nothing is wrong.</p>`}
  </section>`;
}

customElements.define('rockd-alerts', class extends View {
  static properties = {
    ...View.properties,
    settings: { state: true },
    hooks: { state: true },
    results: { state: true },
    permission: { state: true },
  };

  constructor() {
    super();
    this.settings = null;
    this.hooks = [];
    this.results = null;
    this.permission = 'Notification' in window ? Notification.permission : 'unsupported';
  }

  connectedCallback() {
    super.connectedCallback();
    this.load();
  }

  async load() {
    const settings = await this.act(() => call('GET', '/alerts/settings'));
    if (settings) {
      this.settings = settings;
      this.hooks = settings.webhooks.map((h) => ({ url: h.url, signed: h.signed }));
    }
  }

  async acknowledge(alert) {
    await this.act(() => call('POST', `/alerts/${alert.id}/acknowledge`));
  }

  async allow() {
    this.permission = await Notification.requestPermission();
  }

  body(form) {
    const f = fields(form);
    const body = { webhooks: this.hooks.filter((h) => h.url).map((h) => (h.secret
      ? { url: h.url, secret: h.secret } : { url: h.url })),
    pool_used_percent: [Number(f.warning), Number(f.critical)] };
    if (f.host) {
      body.email = { host: f.host, port: Number(f.port), security: f.security, from: f.from,
        to: (f.to ?? '').split(/[\s,]+/).filter(Boolean) };
      if (f.username) body.email.username = f.username;
      if (f.password) body.email.password = f.password;
    }
    return body;
  }

  async save(event) {
    event.preventDefault();
    const saved = await this.act(() => call('PUT', '/alerts/settings', this.body(event.target)));
    if (saved) {
      this.settings = saved;
      this.hooks = saved.webhooks.map((h) => ({ url: h.url, signed: h.signed }));
      this.note = 'Saved.';
    }
  }

  async test() {
    this.results = null;
    this.results = await this.act(() => call('POST', '/alerts/test'));
  }

  email() {
    const e = this.settings?.email ?? {};
    return html`<fieldset><legend>Email</legend>
      <div class="form-grid">
        <label>SMTP server <input name="host" .value=${e.host ?? ''} maxlength="253"
          placeholder="smtp.example.org" aria-invalid=${this.invalid('email.host')}></label>
        <label>Port <input name="port" type="number" min="1" max="65535"
          .value=${String(e.port ?? 587)}></label>
        <label>Security <select name="security">${['starttls', 'tls', 'none'].map((s) => html`
          <option value=${s} ?selected=${(e.security ?? 'starttls') === s}>${s}</option>`)}
        </select></label>
        <label>User name <input name="username" .value=${e.username ?? ''}
          autocomplete="off"></label>
        <label>Password <input name="password" type="password" autocomplete="new-password"
          placeholder=${e.username ? 'unchanged' : ''}></label>
        <label>From <input name="from" type="email" .value=${e.from ?? ''}
          aria-invalid=${this.invalid('email.from')}></label>
        <label>To <input name="to" .value=${(e.to ?? []).join(', ')}
          placeholder="owner@example.org" aria-invalid=${this.invalid('email.to')}></label>
      </div>${this.fieldError('email')}</fieldset>`;
  }

  webhooks() {
    return html`<fieldset><legend>Webhooks</legend>
      <p class="muted">Each alert is POSTed as JSON; with a secret, signed in the header
        X-Rockd-Signature (sha256=HMAC of the body). A secret is kept, never shown.</p>
      ${this.hooks.map((hook, i) => html`<div class="hook-row">
        <label>URL <input type="url" .value=${hook.url} placeholder="https://…"
          @input=${(e) => { hook.url = e.target.value; }}></label>
        <label>Secret <input .value=${hook.secret ?? ''} autocomplete="off"
          placeholder=${hook.signed ? 'unchanged' : 'none'}
          @input=${(e) => { hook.secret = e.target.value; }}></label>
        <button type="button" @click=${() => { this.hooks = this.hooks.filter((_, j) => j !== i); }}>
          Remove</button></div>`)}
      <button type="button" @click=${() => { this.hooks = [...this.hooks, { url: '' }]; }}>
        Add a webhook</button>${this.fieldError('webhooks')}</fieldset>`;
  }

  outcome() {
    const r = this.results;
    if (!r) return '';
    // a failure's error is a sentence that names its channel already
    const line = (name, result) => html`<li class=${result.ok ? 'ok' : 'error'}>
      ${result.ok ? `${name}: sent` : result.error}</li>`;
    return html`<ul class="test-results" role="status">${line('Email', r.email)}
      ${r.webhooks.map((h) => line(h.url, h))}</ul>`;
  }

  render() {
    const all = Object.values(this.tree?.alerts ?? {});
    const active = activeAlerts(this.tree);
    const cleared = all.filter((a) => a.cleared).sort((a, b) => b.cleared.localeCompare(a.cleared));
    const [warning, critical] = this.settings?.pool_used_percent ?? [80, 95];
    return html`
      <h1>Alerts</h1>
      <section class="card">
        <h2>Now</h2>
        ${active.length ? html`<ul class="alerts">${active.map((a) => row(this.tree, a, this))}</ul>`
          : html`<p class="ok">Nothing is wrong.</p>`}
        ${cleared.length ? html`<details><summary>Cleared (${cleared.length})</summary>
          <ul class="alerts">${cleared.slice(0, 50).map((a) => row(this.tree, a, this))}</ul></details>` : ''}
        ${this.permission === 'default' ? html`<p><button @click=${() => this.allow()}>
          Show new alerts as browser notifications</button></p>` : this.permission === 'granted'
          ? html`<p class="muted">New alerts show as browser notifications.</p>` : ''}
      </section>
      <section class="card">
        <h2>How you are told</h2>
        ${this.settings === null ? html`<p>Loading…</p>` : html`
        <form class="alert-settings" @submit=${(e) => this.save(e)}>
          ${this.email()}
          ${this.webhooks()}
          <fieldset><legend>Pool and quota use</legend><div class="form-grid">
            <label>Warning at % <input name="warning" type="number" min="1" max="99"
              .value=${String(warning)}></label>
            <label>Critical at % <input name="critical" type="number" min="2" max="100"
              .value=${String(critical)}></label></div>
            ${this.fieldError('pool_used_percent')}</fieldset>
          <div class="actions">
            <button class="primary" ?disabled=${this.busy}>Save</button>
            <button type="button" ?disabled=${this.busy} @click=${() => this.test()}>
              Send a test message</button>
          </div>
          ${this.problem()}${this.notice()}${this.outcome()}
        </form>`}
      </section>`;
  }
});
