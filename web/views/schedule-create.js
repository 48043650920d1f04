// The "Create schedule" form: a snapshot of a share (with its retention), a settings backup
// into a share (keeping the last N files), or a scrub or balance of a pool, on a cron
// expression; on success the new schedule's page opens.
import { html } from 'lit';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { byName } from '../lib/format.js';
import { go } from '../lib/router.js';
import { KINDS, cronField, onShare, readRetention, retentionFieldset } from './schedule-form.js';

// what a new snapshot schedule offers to keep: a day of hours, a week of days, a month of
// weeks and a year of months
const DEFAULT_POLICY = { hourly: 24, daily: 7, weekly: 4, monthly: 12, min_age: '0m' };

customElements.define('rockd-schedule-create', class extends View {
  static properties = { ...View.properties, kind: { state: true }, prune: { state: true } };

  constructor() {
    super();
    this.kind = 'snapshot';
    this.prune = true;
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
    }
    const made = await this.act(() => call('POST', '/schedules', body));
    if (made) go('schedules', made.id);
  }

  render() {
    const share = onShare(this.kind);
    const targets = share
      ? this.branch('shares').sort((a, b) =>
        this.poolName(a.pool).localeCompare(this.poolName(b.pool)) || byName(a, b))
      : this.branch('pools').filter((pool) => pool.mounted).sort(byName);
    return html`
      <section class="card">
        <h2>New schedule</h2>
        <form class="schedule-create" @submit=${(e) => this.create(e)}>
          <div class="form-grid">
            <label>Kind
              <select name="kind" @change=${(e) => { this.kind = e.target.value; }}>
                ${KINDS.map(([value, text]) => html`
                  <option value=${value} ?selected=${value === this.kind}>${text}</option>`)}
              </select></label>
            <label>${share ? 'Share' : 'Pool'}
              <select name="target" required>
                ${targets.map((t) => html`<option value=${t.id}>${share
                  ? `${this.poolName(t.pool)} / ${t.name}` : t.name}</option>`)}
              </select></label>
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
          ${targets.length ? '' : html`<p class="muted">There is no
            ${share ? 'share' : 'mounted pool'} to schedule yet.</p>`}
          ${this.problem()}
          <div class="actions">
            <button class="primary" ?disabled=${this.busy || !targets.length}>Create schedule</button>
          </div>
        </form>
      </section>`;
  }
});
