// A disk's SMART self-tests and attribute history, on its screen (#/disks/{id}): the tests the
// drive offers as buttons, the running one with its progress (its job, live from the tree),
// the last result, the self-test log and the readings rockd keeps (charts and a table). The
// history is asked for when the screen opens and again when the disk's SMART summary changes
// or a self-test of it ends: the tree says when, nothing is polled.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { View } from '../lib/view.js';
import { isActive, jobRow } from '../components/job-row.js';
import './disk-smart-chart.js';

const TESTS = {
  short: ['short', 'a couple of minutes: the electronics and a sample of the surface'],
  long: ['long', 'reads the whole surface: hours on a large disk'],
  conveyance: ['conveyance', 'minutes: looks for damage from transport'],
};
const ROWS = 10; // readings in the table, newest first
const SECTORS = [{ key: 'reallocated_sectors', label: 'reallocated' },
  { key: 'pending_sectors', label: 'pending' },
  { key: 'offline_uncorrectable', label: 'uncorrectable' }];
const NVME = [{ key: 'media_errors', label: 'media errors' },
  { key: 'percentage_used', label: '% used' }];

// the readings that differ from the one before them (and the newest), newest first
function changes(rows, keys) {
  const changed = rows.filter((r, i) => i === 0 || i === rows.length - 1
    || keys.some((k) => r[k] !== rows[i - 1][k]));
  return changed.slice(-ROWS).reverse();
}

// what of the summary a reading would change (not a running test's progress)
function readingKey(smart) {
  if (!smart) return '';
  const { self_test: running, ...rest } = smart;
  return JSON.stringify([rest, Boolean(running)]);
}

class DiskSmart extends View {
  static properties = { ...View.properties, history: { state: true } };

  constructor() {
    super();
    this.history = null; // {readings, self_tests} | {error}
    this.seen = null; // what the history was last asked for
    this.asked = 0;
  }

  disk() {
    return this.tree?.disks?.[this.id];
  }

  jobs() {
    return Object.values(this.tree?.jobs ?? {})
      .filter((j) => j.kind === 'smart_test' && j.target === this.id);
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    const smart = this.disk()?.smart;
    if (!smart) return;
    const ended = this.jobs().filter((j) => !isActive(j)).map((j) => j.id).sort();
    const key = `${this.id} ${readingKey(smart)} ${ended.join(',')}`;
    if (key !== this.seen) {
      this.seen = key;
      this.load();
    }
  }

  async load() {
    const asked = ++this.asked;
    let history;
    try {
      history = await call('GET', `/disks/${encodeURIComponent(this.id)}/smart/history`);
    } catch (err) {
      history = { error: err.message };
    }
    if (asked === this.asked) this.history = history;
  }

  start(type) {
    return this.act(() => call('POST', `/disks/${encodeURIComponent(this.id)}/smart/tests`,
      { type }));
  }

  lastTest(smart) {
    const last = smart.last_test;
    if (!last) return html`<p class="muted">No self-test is in the drive's log yet.</p>`;
    return html`<p class="smart-last">Last test: ${last.passed
      ? html`<span class="badge good">passed</span>` : html`<span class="badge bad">failed</span>`}
      ${last.kind ?? last.type ?? ''} · ${last.status ?? '—'}${last.lba != null
      ? ` · first error at LBA ${last.lba}` : ''}${last.lifetime_hours != null
      ? ` · at hour ${last.lifetime_hours}` : ''}</p>`;
  }

  running(smart) {
    const job = this.jobs().find(isActive);
    if (job) return jobRow(job, this);
    const drive = smart.self_test;
    if (!drive) return '';
    const left = drive.remaining_percent == null ? '' : ` (${drive.remaining_percent}% remaining)`;
    return html`<p class="smart-running">The drive runs a ${drive.type ? `${drive.type} ` : ''}self-test
      it was given outside rockd${left}.</p>`;
  }

  buttons(smart) {
    const offered = smart.tests ?? [];
    if (!offered.length) return html`<p class="muted">The drive offers no self-tests.</p>`;
    const busy = this.busy || Boolean(smart.self_test) || this.jobs().some(isActive);
    return html`
      <div class="smart-start" role="group" aria-label="Run a self-test">
        ${offered.map((type) => html`
          <button data-test=${type} ?disabled=${busy} title=${TESTS[type]?.[1] ?? ''}
            @click=${() => this.start(type)}>Run a ${TESTS[type]?.[0] ?? type} self-test</button>`)}
      </div>`;
  }

  log(entries) {
    if (!entries?.length) return html`<p class="muted">No self-test was logged.</p>`;
    return html`
      <table class="wide labelled smart-log">
        <thead><tr><th>Test</th><th>Result</th><th class="num">At hour</th>
          <th>First error LBA</th></tr></thead>
        <tbody>${entries.map((t) => html`
          <tr>
            <td data-label="Test">${t.type ?? '—'}</td>
            <td data-label="Result" class=${t.passed || t.in_progress ? '' : 'error'}>
              ${t.status ?? '—'}</td>
            <td data-label="At hour" class="num">${t.lifetime_hours ?? '—'}</td>
            <td data-label="First error LBA">${t.lba ?? '—'}</td>
          </tr>`)}</tbody>
      </table>`;
  }

  readings(rows, smart) {
    if (!rows?.length) return html`<p class="muted">No reading is kept yet.</p>`;
    const nvme = smart.protocol === 'NVMe';
    const counters = (nvme ? NVME : SECTORS).filter((s) => rows.some((r) => r[s.key] != null));
    return html`
      <div class="charts">
        <rockd-smart-chart class="chart" heading="Temperature" unit="°C" .readings=${rows}
          .series=${[{ key: 'temperature', label: 'temperature' }]}></rockd-smart-chart>
        ${counters.length ? html`<rockd-smart-chart class="chart"
          heading=${nvme ? 'Media errors and wear' : 'Bad sectors'} .readings=${rows}
          .series=${counters}></rockd-smart-chart>` : ''}
      </div>
      <h3>Readings that changed</h3>
      <table class="wide labelled smart-readings">
        <thead><tr><th>Read</th><th>Health</th><th class="num">°C</th>
          ${counters.map((c) => html`<th class="num">${c.label}</th>`)}
          <th class="num">Hours on</th></tr></thead>
        <tbody>${changes(rows, ['health', 'temperature', ...counters.map((c) => c.key)])
          .map((r) => html`
          <tr>
            <td data-label="Read">${when(new Date(r.time * 1000).toISOString())}</td>
            <td data-label="Health">${r.health ?? '—'}</td>
            <td data-label="°C" class="num">${r.temperature ?? '—'}</td>
            ${counters.map((c) => html`<td data-label=${c.label} class="num">${r[c.key] ?? '—'}</td>`)}
            <td data-label="Hours on" class="num">${r.power_on_hours ?? '—'}</td>
          </tr>`)}</tbody>
      </table>`;
  }

  render() {
    const smart = this.disk()?.smart;
    if (!smart) return '';
    const h = this.history;
    return html`
      <section class="card disk-self-tests" aria-labelledby="disk-self-tests">
        <h2 id="disk-self-tests">Self-tests</h2>
        ${this.lastTest(smart)}
        ${this.running(smart)}
        ${this.buttons(smart)}
        ${this.problem()}
        <h3>Log</h3>
        ${h?.error ? html`<p class="error">${h.error}</p>` : this.log(h?.self_tests)}
      </section>
      <section class="card disk-smart-history" aria-labelledby="disk-smart-history">
        <h2 id="disk-smart-history">Attribute history</h2>
        ${!h ? html`<p class="muted">Reading the history…</p>` : h.error ? ''
          : this.readings(h.readings, smart)}
      </section>`;
  }
}

customElements.define('rockd-disk-smart', DiskSmart);
