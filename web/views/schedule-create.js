// The "Create schedule" form: a snapshot of a share (with its retention), a settings backup
// into a share (keeping the last N files), a scrub, balance, trim or dedup (of chosen shares,
// or all) of a pool, or a SMART self-test of a disk, on a cron expression; on success the new
// schedule's page opens.
import { html } from 'lit';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { byName } from '../lib/format.js';
import { go } from '../lib/router.js';
import {
  KINDS, SMART_TYPES, cronField, onDisk, onShare, readRetention, retentionFieldset, targetWord,
} from './schedule-form.js';

// what a new snapshot schedule offers to keep: a day of hours, a week of days, a month of
// weeks and a year of months
const DEFAULT_POLICY = { hourly: 24, daily: 7, weekly: 4, monthly: 12, min_age: '0m' };

customElements.define('rockd-schedule-create', class extends View {
  static properties = {
    ...View.properties, kind: { state: true }, prune: { state: true }, target: { state: true },
  };

  constructor() {
    super();
    this.kind = 'snapshot';
    this.prune = true;
    this.target = null; // the chosen target's id; null: the first offered
  }

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    const body = {
      kind: this.kind,
      target: data.get('target'),
      cron: String(data.get('cron')).trim(),
      enabled: Boolean(data.get('enabled')),
    };
    if (this.kind === 'snapshot') {
      const retention = readRetention(form);
      if (retention) body.retention = retention;
    } else if (this.kind === 'config_backup') {
      const last = Number(data.get('keep_files') || 0);
      if (last) body.retention = { last };
    } else if (this.kind === 'smart_test') {
      body.options = { type: data.get('test_type') };
    } else if (this.kind === 'dedup' && data.getAll('shares').length) {
      body.options = { shares: data.getAll('shares') };
    }
    const made = await this.act(() => call('POST', '/schedules', body));
    if (made) go('schedules', made.id);
  }

  targets() {
    if (onShare(this.kind)) {
      return this.branch('shares').sort((a, b) =>
        this.poolName(a.pool).localeCompare(this.poolName(b.pool)) || byName(a, b));
    }
    if (onDisk(this.kind)) return this.branch('disks').sort(byName);
    return this.branch('pools').filter((pool) => pool.mounted).sort(byName);
  }

  label(target) {
    if (onShare(this.kind)) return `${this.poolName(target.pool)} / ${target.name}`;
    if (onDisk(this.kind)) return `${target.name}${target.model ? ` (${target.model})` : ''}`;
    return target.name;
  }

  // a dedup's shares to choose from (none chosen: the whole pool)
  dedupShares(targets) {
    const pool = targets.find((t) => t.id === this.target) ?? targets[0];
    const shares = this.branch('shares').filter((s) => s.pool === pool?.id && !s.read_only)
      .sort(byName);
    return html`
      <fieldset class="dedup-shares">
        <legend>Shares</legend>
        ${shares.length ? shares.map((s) => html`
          <label class="check"><input type="checkbox" name="shares" value=${s.id}> ${s.name}</label>`)
          : html`<p class="muted">This pool has no share to choose.</p>`}
        <small>None chosen: the whole pool (its snapshots and read-only shares left alone).</small>
      </fieldset>`;
  }

  render() {
    const share = onShare(this.kind);
    const targets = this.targets();
    return html`
      <section class="card">
        <h2>New schedule</h2>
        <form class="schedule-create" @submit=${(e) => this.create(e)}>
          <div class="form-grid">
            <label>Kind
              <select name="kind" @change=${(e) => { this.kind = e.target.value; this.target = null; }}>
                ${KINDS.map(([value, text]) => html`
                  <option value=${value} ?selected=${value === this.kind}>${text}</option>`)}
              </select></label>
            <label>${targetWord(this.kind)}
              <select name="target" required @change=${(e) => { this.target = e.target.value; }}>
                ${targets.map((t) => html`<option value=${t.id}
                  ?selected=${t.id === this.target}>${this.label(t)}</option>`)}
              </select></label>
            ${this.kind === 'smart_test' ? html`
              <label>Test <select name="test_type">
                ${SMART_TYPES.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
              </select></label>` : ''}
            <label class="check"><input type="checkbox" name="enabled" checked> Enabled</label>
          </div>
          ${cronField()}
          ${this.fieldError('cron')}
          ${this.kind === 'snapshot'
            ? retentionFieldset(DEFAULT_POLICY, this.prune, (on) => { this.prune = on; }, this)
            : ''}
          ${this.kind === 'config_backup' ? html`
            <label>Keep the last <small>backup files (0: every one)</small>
              <input name="keep_files" type="number" min="0" max="10000" inputmode="numeric"
                title="How many of the newest backup files to keep, 0 to 10000" value="10">
            </label>${this.fieldError('retention.last')}` : ''}
          ${this.kind === 'dedup' ? this.dedupShares(targets) : ''}
          ${this.fieldError('options.type')}
          ${targets.length ? '' : html`<p class="muted">There is no
            ${share ? 'share' : onDisk(this.kind) ? 'disk' : 'mounted pool'} to schedule yet.</p>`}
          ${this.problem()}
          <div class="actions">
            <button class="primary" ?disabled=${this.busy || !targets.length}>Create schedule</button>
          </div>
        </form>
      </section>`;
  }
});
