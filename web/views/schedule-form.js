// The parts of schedule forms: when it runs (the cron picker), the retention fieldset (how
// many of the newest, and of hourly/daily/weekly/monthly snapshots to keep), reading them
// back, and words for a schedule's target, times and retention.
import { html } from 'lit';
import { href } from '../lib/router.js';
import '../components/cron-picker.js';

export const KINDS = [
  ['snapshot', 'Snapshot'],
  ['scrub', 'Scrub'],
  ['balance', 'Balance'],
  ['config_backup', 'Settings backup'],
  ['trim', 'Trim (SSD)'],
  ['dedup', 'Deduplicate'],
  ['smart_test', 'SMART self-test'],
];
// the kinds whose target is a share or a disk (the others' is a pool)
const SHARE_KINDS = ['snapshot', 'config_backup'];
const DISK_KINDS = ['smart_test'];
export const SMART_TYPES = [['short', 'Short'], ['long', 'Long'], ['conveyance', 'Conveyance']];

export function onShare(kind) {
  return SHARE_KINDS.includes(kind);
}

export function onDisk(kind) {
  return DISK_KINDS.includes(kind);
}

// the tree's branch of a kind's targets: shares, disks or pools
export function targetBranch(kind) {
  if (onShare(kind)) return 'shares';
  return onDisk(kind) ? 'disks' : 'pools';
}

// "Share", "Disk" or "Pool"
export function targetWord(kind) {
  return { shares: 'Share', disks: 'Disk', pools: 'Pool' }[targetBranch(kind)];
}

// what a schedule's options say, in words ("" when it has none)
export function describeOptions(tree, schedule) {
  const options = schedule.options ?? {};
  if (schedule.kind === 'smart_test') return `${options.type ?? '?'} self-test`;
  if (schedule.kind === 'dedup') {
    const shares = options.shares ?? [];
    return shares.length
      ? `shares ${shares.map((id) => tree?.shares?.[id]?.name ?? id).join(', ')}`
      : 'the whole pool';
  }
  return '';
}
const COUNTS = [['hourly', 'Hourly'], ['daily', 'Daily'], ['weekly', 'Weekly'], ['monthly', 'Monthly']];

// the pool or share a schedule acts on, as a link (or its id when it is gone)
export function targetLink(tree, schedule) {
  const kind = targetBranch(schedule.kind);
  const item = tree?.[kind]?.[schedule.target];
  return item ? html`<a href=${href(kind, item.id)}>${item.name}</a>`
    : html`<code>${schedule.target}</code> <small>(gone)</small>`;
}

export function targetName(tree, schedule) {
  return tree?.[targetBranch(schedule.kind)]?.[schedule.target]?.name ?? schedule.target;
}

// "Snapshots of home", "Scrubs of tank", "Settings backups into docs"
export function scheduleTitle(tree, schedule) {
  const what = { snapshot: 'Snapshots of', scrub: 'Scrubs of', balance: 'Balances of',
    config_backup: 'Settings backups into', trim: 'Trims of', dedup: 'Deduplication of',
    smart_test: `${schedule.options?.type ?? 'SMART'} self-tests of`
      .replace(/^./, (c) => c.toUpperCase()) }[schedule.kind] ?? `${schedule.kind} of`;
  return `${what} ${targetName(tree, schedule)}`;
}

// "the last 5, 24 hourly, 7 daily; all younger than 1d" or what no policy means
export function describeRetention(schedule) {
  if (schedule.kind === 'config_backup') {
    const last = schedule.retention?.last;
    return last ? `the last ${last} backup files` : 'every backup file';
  }
  if (schedule.kind !== 'snapshot') return '—';
  const policy = schedule.retention;
  if (!policy) return 'none: nothing is deleted';
  const counts = COUNTS.filter(([key]) => policy[key]).map(([key]) => `${policy[key]} ${key}`);
  if (policy.last) counts.unshift(`the last ${policy.last}`);
  const age = policy.min_age && !/^0[wdhm]$/.test(policy.min_age)
    ? `all younger than ${policy.min_age}` : '';
  return [counts.join(', ') || 'only the newest', age].filter(Boolean).join('; ');
}

// the picker of when it runs; its expression is the form's `cron` field
export function cronField(value = '') {
  return html`<rockd-cron-picker .value=${value}></rockd-cron-picker>`;
}

// `prune`: whether the policy's fields show; `toggle(checked)` is called when it changes;
// `view` shows an error at the field it names (retention.daily...)
export function retentionFieldset(policy, prune, toggle, view = null) {
  const error = (key) => view?.fieldError(`retention.${key}`) ?? '';
  return html`
    <fieldset class="retention">
      <legend>Retention</legend>
      <label class="check"><input type="checkbox" name="prune" ?checked=${prune}
        @change=${(e) => toggle(e.target.checked)}> Delete old scheduled snapshots</label>
      ${prune ? html`
        <p class="muted">Keeps the newest N scheduled snapshots (Last), and the first snapshot
          of each of the last N hours, days, weeks (from Monday) and months, in UTC; the newest,
          those younger than the minimum age and those made by hand are always kept.</p>
        <div class="counts">
          <label>Last <small>the newest N</small>
            <input name="last" type="number" min="0" max="10000" inputmode="numeric"
              title="How many of the newest scheduled snapshots to keep, 0 to 10000"
              value=${policy?.last ?? 0}></label>${error('last')}
          ${COUNTS.map(([key, text]) => html`
          <label>${text} <input name=${key} type="number" min="0" max="10000" inputmode="numeric"
            title="A whole number from 0 to 10000" value=${policy?.[key] ?? 0}></label>
          ${error(key)}`)}
          <label>Minimum age <small>e.g. 30m, 12h, 1d, 2w</small>
            <input name="min_age" pattern="\\d+[mhdw]" maxlength="16" autocomplete="off"
              title="A whole number and a unit: m (minutes), h (hours), d (days) or w (weeks)"
              value=${policy?.min_age ?? '0m'}></label>${error('min_age')}
        </div>`
      : html`<p class="muted">Without retention, every scheduled snapshot stays until deleted by
          hand.</p>`}
      ${view?.fieldError('retention') ?? ''}
    </fieldset>`;
}

// the retention object the API takes, from a form with the fieldset above (null: none)
export function readRetention(form) {
  const data = new FormData(form);
  if (!data.get('prune')) return null;
  const policy = {};
  for (const [key] of [['last'], ...COUNTS]) policy[key] = Number(data.get(key) || 0);
  policy.min_age = String(data.get('min_age') || '0m').trim();
  return policy;
}
