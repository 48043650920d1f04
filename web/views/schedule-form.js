// The parts of schedule forms: the cron field with common choices, the retention fieldset
// (how many hourly/daily/weekly/monthly snapshots to keep), reading them back, and words for
// a schedule's target and retention.
import { html } from 'lit';
import { href } from '../lib/router.js';

export const KINDS = [
  ['snapshot', 'Snapshot'],
  ['scrub', 'Scrub'],
  ['balance', 'Balance'],
];
const COUNTS = [['hourly', 'Hourly'], ['daily', 'Daily'], ['weekly', 'Weekly'], ['monthly', 'Monthly']];
const PRESETS = [
  ['@hourly', 'every hour'],
  ['@daily', 'every day at 00:00'],
  ['0 3 * * *', 'every day at 03:00'],
  ['*/15 * * * *', 'every 15 minutes'],
  ['@weekly', 'Sundays at 00:00'],
  ['0 2 * * 6', 'Saturdays at 02:00'],
  ['@monthly', 'the 1st of each month'],
];

// the pool or share a schedule acts on, as a link (or its id when it is gone)
export function targetLink(tree, schedule) {
  const kind = schedule.kind === 'snapshot' ? 'shares' : 'pools';
  const item = tree?.[kind]?.[schedule.target];
  return item ? html`<a href=${href(kind, item.id)}>${item.name}</a>`
    : html`<code>${schedule.target}</code> <small>(gone)</small>`;
}

export function targetName(tree, schedule) {
  const kind = schedule.kind === 'snapshot' ? 'shares' : 'pools';
  return tree?.[kind]?.[schedule.target]?.name ?? schedule.target;
}

// "24 hourly, 7 daily; all younger than 1d" or what no policy means
export function describeRetention(schedule) {
  if (schedule.kind !== 'snapshot') return '—';
  const policy = schedule.retention;
  if (!policy) return 'none: nothing is deleted';
  const counts = COUNTS.filter(([key]) => policy[key]).map(([key]) => `${policy[key]} ${key}`);
  const age = policy.min_age && !/^0[wdhm]$/.test(policy.min_age)
    ? `all younger than ${policy.min_age}` : '';
  return [counts.join(', ') || 'only the newest', age].filter(Boolean).join('; ');
}

export function cronField(value = '') {
  return html`
    <label>Cron <small>minute hour day month weekday, in UTC</small>
      <input name="cron" required maxlength="128" autocomplete="off" list="cron-presets"
        placeholder="0 3 * * *" value=${value}></label>
    <datalist id="cron-presets">${PRESETS.map(([expr, text]) => html`
      <option value=${expr}>${text}</option>`)}</datalist>`;
}

// `prune`: whether the policy's fields show; `toggle(checked)` is called when it changes
export function retentionFieldset(policy, prune, toggle) {
  return html`
    <fieldset class="retention">
      <legend>Retention</legend>
      <label class="check"><input type="checkbox" name="prune" ?checked=${prune}
        @change=${(e) => toggle(e.target.checked)}> Delete old scheduled snapshots</label>
      ${prune ? html`
        <p class="muted">Keeps the first snapshot of each of the last N hours, days, weeks
          (from Monday) and months, in UTC; the newest, those younger than the minimum age and
          those made by hand are always kept.</p>
        <div class="counts">${COUNTS.map(([key, text]) => html`
          <label>${text} <input name=${key} type="number" min="0" max="10000" inputmode="numeric"
            value=${policy?.[key] ?? 0}></label>`)}
          <label>Minimum age <small>e.g. 30m, 12h, 1d, 2w</small>
            <input name="min_age" pattern="\\d+[mhdw]" maxlength="16" autocomplete="off"
              value=${policy?.min_age ?? '0m'}></label>
        </div>`
      : html`<p class="muted">Without retention, every scheduled snapshot stays until deleted by
          hand.</p>`}
    </fieldset>`;
}

// the retention object the API takes, from a form with the fieldset above (null: none)
export function readRetention(form) {
  const data = new FormData(form);
  if (!data.get('prune')) return null;
  const policy = {};
  for (const [key] of COUNTS) policy[key] = Number(data.get(key) || 0);
  policy.min_age = String(data.get('min_age') || '0m').trim();
  return policy;
}
