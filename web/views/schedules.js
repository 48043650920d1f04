// Schedules: snapshots of shares (with retention), scrubs, balances, trims and dedups of pools,
// settings backups and SMART self-tests of disks on cron, with their next run; the form for a new one; #/schedules/{id} is one (schedule-detail.js).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { when } from '../lib/format.js';
import { href } from '../lib/router.js';
import { cronText } from '../components/cron-words.js';
import { KINDS, describeRetention, targetLink, targetName } from './schedule-form.js';
import './schedule-create.js';
import './schedule-detail.js';

const KIND_WORDS = Object.fromEntries(KINDS);

customElements.define('rockd-schedules', class extends View {
  render() {
    if (this.id) {
      return html`<rockd-schedule-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-schedule-detail>`;
    }
    const schedules = this.branch('schedules').sort((a, b) =>
      a.kind.localeCompare(b.kind) || targetName(this.tree, a).localeCompare(targetName(this.tree, b))
      || String(a.id).localeCompare(String(b.id)));
    return html`
      <section class="card">
        <h1>Schedules</h1>
        ${schedules.length ? html`
          <table class="wide labelled schedules">
            <thead><tr><th>Kind</th><th>Target</th><th>When</th><th>Next run</th>
              <th>Enabled</th><th>Retention</th><th><span class="visually-hidden">Open</span></th></tr></thead>
            <tbody>${schedules.map((s) => html`
              <tr data-schedule=${s.id}>
                <td>${KIND_WORDS[s.kind] ?? s.kind}</td>
                <td data-label="Target">${targetLink(this.tree, s)}</td>
                <td data-label="When">${cronText(s.cron)}</td>
                <td data-label="Next run">${s.enabled ? when(s.next_run) : '—'}</td>
                <td data-label="Enabled">${s.enabled ? html`<span class="badge good">enabled</span>`
                  : html`<span class="badge">disabled</span>`}</td>
                <td data-label="Retention">${describeRetention(s)}</td>
                <td><a href=${href('schedules', s.id)}
                  aria-label="Open the ${KIND_WORDS[s.kind] ?? s.kind} schedule of ${targetName(this.tree, s)}">Open</a></td>
              </tr>`)}</tbody>
          </table>`
        : html`<p class="muted">No schedules yet: rockd can snapshot a share (and delete old
            snapshots by a retention policy), or scrub or balance a pool, on a cron time.</p>`}
      </section>
      <rockd-schedule-create .tree=${this.tree} .rev=${this.rev}></rockd-schedule-create>`;
  }
});
