// Events (#/events): the event log, newest first: every write made through the API (who, from
// where, what, how it ended) and what the system did (disks, pools, jobs, services, Docker,
// replication peers). Filtered by kind and by words; live: the stream carries the log's newest
// entry at /events/latest, and each new one is added here as it comes (one that follows
// straight on from what is shown is taken from the tree; after a gap the missing ones are asked
// for). The export link downloads what the filter selects as JSON lines.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { View } from '../lib/view.js';

export const KINDS = [
  ['', 'All events'],
  ['audit', 'Changes made (audit)'],
  ['disk_appeared', 'Disk appeared'],
  ['disk_gone', 'Disk gone'],
  ['pool_mounted', 'Pool mounted'],
  ['pool_unmounted', 'Pool unmounted'],
  ['pool_degraded', 'Pool degraded'],
  ['pool_healthy', 'Pool no longer degraded'],
  ['job_ended', 'Job ended'],
  ['job_failed', 'Job failed'],
  ['service_failed', 'Service failed'],
  ['service_started', 'Service started'],
  ['service_stopped', 'Service stopped'],
  ['service_restarted', 'Service restarted'],
  ['docker_up', 'Docker engine up'],
  ['docker_down', 'Docker engine down'],
  ['peer_online', 'Peer online'],
  ['peer_offline', 'Peer offline'],
];
const BAD = new Set(['disk_gone', 'pool_degraded', 'job_failed', 'service_failed',
  'docker_down', 'peer_offline']);
const PAGE = 200;
const KEPT = 2000; // entries kept on the page at most (older ones are asked for again)
const NEWEST = 2 ** 52; // `before` that selects the newest entries

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== '' && value !== undefined && value !== null) search.set(key, String(value));
  }
  return search.toString();
}

function kindLabel(kind) {
  return KINDS.find(([value]) => value === kind)?.[1] ?? kind.replaceAll('_', ' ');
}

function tone(event) {
  if (event.kind === 'audit') return (event.result?.status ?? 0) >= 400 ? 'bad' : '';
  return BAD.has(event.kind) ? 'bad' : '';
}

customElements.define('rockd-events', class extends View {
  static properties = {
    ...View.properties,
    items: { state: true },
    kind: { state: true },
    text: { state: true },
    older: { state: true },
  };

  constructor() {
    super();
    this.items = null; // newest first
    this.kind = '';
    this.text = '';
    this.older = false; // whether the log may hold older entries than shown
    this.after = 0; // the id up to which the log has been read for this filter
    this.fetching = null;
  }

  connectedCallback() {
    super.connectedCallback();
    this.load();
  }

  latestId() {
    return this.tree?.events?.latest?.id ?? 0;
  }

  filters() {
    return { kind: this.kind, text: this.text.trim() };
  }

  // the newest page for the filter, from scratch
  async load() {
    const head = this.latestId();
    const answer = await this.act(() => call('GET',
      `/events?${query({ ...this.filters(), before: NEWEST, limit: PAGE })}`));
    if (!answer) return;
    this.items = answer.items.reverse();
    this.older = answer.items.length === PAGE;
    this.after = Math.max(head, this.items[0]?.id ?? 0);
  }

  async loadOlder() {
    const oldest = this.items?.at(-1)?.id;
    if (!oldest) return;
    const answer = await this.act(() => call('GET',
      `/events?${query({ ...this.filters(), before: oldest, limit: PAGE })}`));
    if (!answer) return;
    this.items = [...this.items, ...answer.items.reverse()];
    this.older = answer.items.length === PAGE;
  }

  // whether `event` is one the filter selects (as the server's `kind` and `text` do)
  selects(event) {
    const { kind, text } = this.filters();
    if (kind && event.kind !== kind) return false;
    if (!text) return true;
    const words = [event.message, event.principal, event.address, event.action,
      event.resource, event.result?.error].join('\n').toLowerCase();
    return words.includes(text.toLowerCase());
  }

  add(events) {
    const known = new Set(this.items.map((event) => event.id));
    const fresh = events.filter((event) => !known.has(event.id) && this.selects(event));
    if (fresh.length) this.items = [...fresh.reverse(), ...this.items].slice(0, KEPT);
  }

  // a new entry in the tree: taken as it is when it follows on, else the gap is asked for
  async follow() {
    if (this.items === null || this.fetching) return;
    const latest = this.tree.events.latest;
    if (latest.id === this.after + 1) {
      this.after = latest.id;
      this.add([structuredClone(latest)]); // the tree's object is patched in place later
      return;
    }
    const since = this.after;
    this.after = latest.id;
    this.fetching = call('GET', `/events?${query({ ...this.filters(), since, limit: 1000 })}`)
      .then((answer) => this.add(answer.items))
      .catch(() => { this.after = since; })
      .finally(() => {
        this.fetching = null;
        if (this.latestId() > this.after) this.follow();
      });
  }

  updated(changed) {
    super.updated?.(changed);
    if (changed.has('tree') || changed.has('rev')) {
      if (this.latestId() > this.after) this.follow();
    }
  }

  filterBy(event) {
    event.preventDefault();
    const form = event.target.closest('form');
    this.kind = form.elements.kind.value;
    this.text = form.elements.text.value;
    this.load();
  }

  exportHref() {
    return `/api/v1/events/export?${query(this.filters())}`;
  }

  row(event) {
    const result = event.result;
    return html`
      <tr data-event=${event.id} data-kind=${event.kind}>
        <td data-label="When"><time datetime=${event.time}>${when(event.time)}</time></td>
        <td data-label="Kind"><span class="badge ${tone(event)}">${kindLabel(event.kind)}</span></td>
        <td class="event-message">${event.message}
          ${event.action || event.resource ? html`<br><small>${event.action ? html`<code>${event.action}</code>` : ''}
            ${event.resource ? html`<span class="event-resource">${event.action ? '· ' : ''}${event.resource}</span>` : ''}</small>` : ''}</td>
        <td data-label="Who">${event.principal ?? (event.kind === 'audit' ? 'not signed in' : 'rockd')}
          ${event.address ? html`<br><small>${event.address}</small>` : ''}</td>
        <td data-label="Result">${result ? html`<span class="badge ${result.status >= 400 ? 'bad' : 'good'}">
          ${result.status}</span>${result.error ? html` <small>${result.error}</small>` : ''}` : '—'}</td>
      </tr>`;
  }

  render() {
    const items = this.items ?? [];
    return html`
      <section class="card">
        <div class="title-row">
          <h1>Events</h1>
          <a class="export" href=${this.exportHref()} download="rockd-events.ndjson"
            title="what the filter selects, one event a line">Export (JSON lines)</a>
        </div>
        <p class="muted">Every change made through rockd (who, from where, and how it ended)
          and what happened to the disks, pools, jobs and services, newest first, as it happens.</p>
        <form class="event-filter" @submit=${(e) => this.filterBy(e)}
          @change=${(e) => { if (e.target.name === 'kind') this.filterBy(e); }}>
          <label>Kind
            <select name="kind">${KINDS.map(([value, text]) => html`
              <option value=${value} ?selected=${value === this.kind}>${text}</option>`)}
            </select></label>
          <label>Words
            <input name="text" type="search" maxlength="256" .value=${this.text}
              placeholder="a user, an id, a disk…"></label>
          <button type="submit">Filter</button>
        </form>
        ${this.problem()}
        ${this.items === null ? html`<p class="muted">Loading…</p>` : items.length ? html`
          <table class="wide labelled events">
            <thead><tr><th>When</th><th>Kind</th><th>What</th><th>Who</th><th>Result</th></tr></thead>
            <tbody>${items.map((event) => this.row(event))}</tbody>
          </table>
          ${this.older ? html`<button class="more" @click=${() => this.loadOlder()}>Show older</button>` : ''}`
          : html`<p class="muted" role="status">No events${this.kind || this.text ? ' match the filter' : ''}.</p>`}
      </section>`;
  }
});
