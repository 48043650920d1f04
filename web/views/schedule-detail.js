// One schedule (#/schedules/{id}): its facts, the form to change its cron, state and
// retention, delete, and what its retention would keep and delete now (asked once on opening,
// since it is not in the tree).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { confirmAction } from '../components/confirm.js';
import { cronText } from '../components/cron-words.js';
import { cronField, describeOptions, describeRetention, readRetention, retentionFieldset,
  scheduleTitle, targetBranch, targetLink, targetName, targetWord } from './schedule-form.js';

customElements.define('rockd-schedule-detail', class extends View {
  static properties = {
    ...View.properties,
    prune: { state: true },
    preview: { state: true },
    previewError: { state: true },
    note: { state: true },
  };

  constructor() {
    super();
    this.preview = null; // {id, rows, at} from GET /schedules/{id}/retention
    this.previewError = '';
    this.note = '';
    this.opened = null; // the id whose preview was asked for
  }

  get schedule() {
    return this.tree?.schedules?.[this.id];
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    if (changed.has('id')) {
      this.preview = null;
      this.opened = null;
    }
    // once per opening, as soon as the schedule is in the tree (a new one may come just after)
    const schedule = this.schedule;
    if (schedule && this.opened !== this.id) {
      this.opened = this.id;
      this.prune = Boolean(schedule.retention);
      if (schedule.kind === 'snapshot') this.loadPreview();
    }
  }

  async loadPreview() {
    const id = this.id;
    this.previewError = '';
    try {
      const rows = await call('GET', `/schedules/${id}/retention`);
      if (id === this.id) this.preview = { id, rows, at: new Date().toISOString() };
    } catch (err) {
      if (id === this.id) this.previewError = err.message;
    }
  }

  async save(event, schedule) {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    const body = { cron: String(data.get('cron')).trim(), enabled: Boolean(data.get('enabled')) };
    if (schedule.kind === 'snapshot') body.retention = readRetention(form);
    this.note = '';
    if (await this.act(() => call('PATCH', `/schedules/${schedule.id}`, body))) {
      form.reset();
      this.note = 'Saved.';
      if (schedule.kind === 'snapshot') this.loadPreview();
    }
  }

  async setEnabled(schedule, enabled) {
    this.note = '';
    if (await this.act(() => call('PATCH', `/schedules/${schedule.id}`, { enabled }))) {
      this.querySelector('form.schedule-edit')?.reset();
    }
  }

  async deleteSchedule(schedule) {
    const ok = await confirmAction({
      title: 'Delete this schedule?',
      message: `The ${schedule.kind} schedule of ${targetName(this.tree, schedule)} stops for good.`
        + (schedule.kind === 'snapshot' ? ' The snapshots it made stay (delete them by hand).' : ''),
      action: 'Delete schedule',
    });
    if (!ok) return;
    if (await this.act(async () => { await call('DELETE', `/schedules/${schedule.id}`); return true; })) {
      go('schedules');
    }
  }

  // whether the error is shown at a field of the form (not in the card above it)
  atField() {
    return this.errorField === 'cron' || this.errorField.startsWith('retention');
  }

  render() {
    const schedule = this.schedule;
    if (!schedule) {
      return html`<section class="card"><h1>Schedule not found</h1>
        <p>There is no schedule <code>${this.id}</code> (now).</p>
        <p><a href=${href('schedules')}>All schedules</a></p></section>`;
    }
    const branch = targetBranch(schedule.kind);
    const gone = this.tree?.[branch]?.[schedule.target] ? '' : branch.slice(0, -1);
    const options = describeOptions(this.tree, schedule);
    return html`
      <p class="crumbs"><a href=${href('schedules')}>Schedules</a> ›</p>
      <section class="card title-row">
        <h1>${scheduleTitle(this.tree, schedule)}</h1>
        <button ?disabled=${this.busy} @click=${() => this.setEnabled(schedule, !schedule.enabled)}>
          ${schedule.enabled ? 'Disable' : 'Enable'}</button>
        <button class="danger" ?disabled=${this.busy} @click=${() => this.deleteSchedule(schedule)}>Delete</button>
      </section>
      ${gone ? html`<p class="card warn" role="status">The ${gone} this schedule acts on is gone:
        it cannot run, and rockd refuses changes to it; delete it.</p>` : ''}
      ${(this.error && !this.atField()) || this.note ? html`<div class="card">
        ${this.atField() ? '' : this.problem()}
        ${this.note ? html`<p class="ok" role="status">${this.note}</p>` : ''}</div>` : ''}
      <div class="grid">
        <section class="card">
          <h2>Facts</h2>
          <dl>
            <dt>Kind</dt><dd>${schedule.kind}</dd>
            <dt>${targetWord(schedule.kind)}</dt><dd>${targetLink(this.tree, schedule)}</dd>
            ${options ? html`<dt>What</dt><dd>${options}</dd>` : ''}
            <dt>When</dt><dd>${cronText(schedule.cron)}</dd>
            <dt>Enabled</dt><dd>${schedule.enabled ? 'yes' : 'no'}</dd>
            <dt>Next run</dt><dd>${schedule.enabled ? when(schedule.next_run) : '— (disabled)'}</dd>
            <dt>Last run</dt><dd>${when(schedule.last_run)}</dd>
            <dt>Created</dt><dd>${when(schedule.created)}</dd>
            <dt>Retention</dt><dd>${describeRetention(schedule)}</dd>
          </dl>
        </section>
        <section class="card">
          <h2>Change</h2>
          <form class="schedule-edit" @submit=${(e) => this.save(e, schedule)}>
            ${cronField(schedule.cron)}
            ${this.fieldError('cron')}
            <label class="check"><input type="checkbox" name="enabled" ?checked=${schedule.enabled}> Enabled</label>
            ${schedule.kind === 'snapshot' ? retentionFieldset(schedule.retention, this.prune,
              (on) => { this.prune = on; }, this) : ''}
            <div class="actions"><button class="primary" ?disabled=${this.busy}>Save changes</button></div>
          </form>
        </section>
      </div>
      ${schedule.kind === 'snapshot' ? this.previewCard(schedule) : ''}`;
  }

  previewCard(schedule) {
    const rows = this.preview?.rows ?? [];
    const kept = rows.filter((r) => r.keep).length;
    return html`
      <section class="card retention-preview">
        <div class="title-row">
          <h2>Retention preview</h2>
          <button @click=${() => this.loadPreview()}>Refresh preview</button>
        </div>
        <p class="muted">What the saved policy would keep and delete if it ran now
          ${this.preview ? html`(asked ${when(this.preview.at)})` : ''}. Snapshots are deleted only
          after a scheduled snapshot, in a prune job.</p>
        ${this.previewError ? html`<p class="error" role="alert">${this.previewError}</p>` : ''}
        ${!this.preview ? (this.previewError ? '' : html`<p>Loading…</p>`)
          : rows.length ? html`
          <p role="status"><strong>${kept}</strong> kept, <strong>${rows.length - kept}</strong>
            would be deleted.</p>
          <table class="wide labelled">
            <thead><tr><th>Snapshot</th><th>Taken</th><th>Verdict</th><th>Why</th></tr></thead>
            <tbody>${rows.map((row) => html`
              <tr data-snapshot=${row.snapshot} data-keep=${row.keep ? 'yes' : 'no'}>
                <td>${this.tree?.snapshots?.[row.snapshot]?.name ?? row.snapshot}</td>
                <td data-label="Taken">${when(row.created)}</td>
                <td data-label="Verdict">${row.keep ? html`<span class="badge good">keep</span>`
                  : html`<span class="badge bad">delete</span>`}</td>
                <td data-label="Why">${row.reasons.join('; ')}</td>
              </tr>`)}</tbody>
          </table>`
          : html`<p class="muted">${schedule.target in (this.tree?.shares ?? {})
            ? 'The share has no snapshots yet.' : 'The share is gone.'}</p>`}
      </section>`;
  }
});
