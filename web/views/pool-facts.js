// What the pool and disk screens share: btrfs profiles and their minimums (as
// rockd/storage/profiles.py has them), which disks are free, and a pool's health and usage.
import { html } from 'lit';
import { bytes, capacity } from '../lib/format.js';

// min: disks a chunk needs (the pool's minimum); survives: failed disks the data outlives.
export const PROFILES = {
  single: { min: 1, survives: 0, data: true, metadata: true, says: 'one copy, no redundancy' },
  dup: { min: 1, survives: 0, data: false, metadata: true,
    says: 'two copies on the same disk (outlives bad sectors)' },
  raid0: { min: 1, survives: 0, data: true, metadata: true,
    says: 'striped over every disk, no redundancy' },
  raid1: { min: 2, survives: 1, data: true, metadata: true,
    says: 'two copies on different disks' },
  raid1c3: { min: 3, survives: 2, data: true, metadata: true,
    says: 'three copies on different disks' },
  raid1c4: { min: 4, survives: 3, data: true, metadata: true,
    says: 'four copies on different disks' },
  raid10: { min: 2, survives: 1, data: true, metadata: true,
    says: 'striped over pairs of mirrored disks' },
  raid5: { min: 2, survives: 1, data: true, metadata: false,
    says: 'striped with one parity block (never for metadata: its write hole)' },
  raid6: { min: 3, survives: 2, data: true, metadata: false,
    says: 'striped with two parity blocks (never for metadata: its write hole)' },
};

export const DATA_PROFILES = Object.keys(PROFILES).filter((p) => PROFILES[p].data);
export const METADATA_PROFILES = Object.keys(PROFILES).filter((p) => PROFILES[p].metadata);

export const COMPRESSIONS = [
  ['no', 'none'],
  ['zstd', 'zstd (level 3, a good default)'],
  ['zstd:1', 'zstd:1 (fastest zstd)'],
  ['zstd:9', 'zstd:9 (smaller, slower)'],
  ['zstd:15', 'zstd:15 (smallest, slowest)'],
  ['lzo', 'lzo (fast, compresses less)'],
  ['zlib', 'zlib'],
];

// The metadata profile rockd picks when none is named (profiles.default_metadata).
export function defaultMetadata(data, disks) {
  if (disks <= 1) return 'dup';
  const copies = Math.min(Math.max((PROFILES[data]?.survives ?? 0) + 1, 2), disks, 4);
  return { 2: 'raid1', 3: 'raid1c3', 4: 'raid1c4' }[copies];
}

// One line for a profile: what it does, what it survives and its minimum.
export function explain(profile) {
  const p = PROFILES[profile];
  if (!p) return '';
  const survives = p.survives ? `survives ${p.survives} failed disk${p.survives > 1 ? 's' : ''}`
    : 'survives no failed disk';
  const need = p.min === 1 ? 'works with one disk or more' : `needs at least ${p.min} disks`;
  return `${profile}: ${p.says}; ${survives}; ${need}.`;
}

// Why `count` disks (`which`: chosen, present...) cannot hold `profile`, or '' when they can.
export function shortOf(profile, count, which = 'chosen') {
  const need = PROFILES[profile]?.min ?? 1;
  return count < need ? `${profile} needs at least ${need} disks, ${count} ${which}` : '';
}

// <option>s of profiles, those that `count` disks cannot hold disabled and saying why.
export function profileOptions(names, selected, count) {
  return names.map((name) => html`
    <option value=${name} ?selected=${name === selected}
      ?disabled=${count > 0 && PROFILES[name].min > count}>${name} — ${PROFILES[name].min === 1
        ? 'any disks' : `${PROFILES[name].min}+ disks`}</option>`);
}

export function compressionOptions(selected) {
  const known = COMPRESSIONS.some(([value]) => value === selected);
  const list = known || !selected ? COMPRESSIONS : [...COMPRESSIONS, [selected, selected]];
  return list.map(([value, text]) => html`
    <option value=${value} ?selected=${value === (selected || 'no')}>${text}</option>`);
}

// A disk a new pool (or a pool's add/replace) may take: managed, holding nothing.
export function isFree(disk) {
  return Boolean(disk.managed && !disk.pool && !disk.filesystem && !disk.partitions?.length
    && !disk.read_only && disk.size > 0);
}

export function freeDisks(tree) {
  return Object.values(tree?.disks ?? {}).filter(isFree)
    .sort((a, b) => String(a.path).localeCompare(String(b.path), undefined, { numeric: true }));
}

// btrfs filesystems on managed disks that no pool has taken over: what import offers.
export function importable(tree) {
  const found = new Map();
  for (const disk of Object.values(tree?.disks ?? {})) {
    const fs = disk.filesystem;
    if (!disk.managed || fs?.type !== 'btrfs' || !fs.uuid || tree?.pools?.[fs.uuid]) continue;
    if (!found.has(fs.uuid)) found.set(fs.uuid, { uuid: fs.uuid, label: fs.label, disks: [] });
    found.get(fs.uuid).disks.push(disk);
  }
  return [...found.values()];
}

export function diskLabel(disk) {
  if (!disk) return '—';
  const what = [disk.model, bytes(disk.size)].filter(Boolean).join(', ');
  return `${disk.path ?? disk.name ?? disk.id} (${what})`;
}

export function errorCount(device) {
  return Object.values(device?.errors ?? {}).reduce((sum, n) => sum + (Number(n) || 0), 0);
}

// Badges for a pool's state: missing, degraded, disks missing, device errors, or healthy.
export function healthBadges(pool) {
  const bad = [];
  if (pool.present === false) bad.push('filesystem not found');
  if (pool.degraded) bad.push('degraded');
  if (pool.missing_devices) {
    bad.push(`${pool.missing_devices} disk${pool.missing_devices > 1 ? 's' : ''} missing`);
  }
  const errors = (pool.devices ?? []).reduce((sum, d) => sum + errorCount(d), 0);
  if (errors) bad.push(`${errors} device error${errors > 1 ? 's' : ''}`);
  if (!bad.length) return html`<span class="badge good">healthy</span>`;
  return bad.map((text) => html`<span class="badge bad">${text}</span> `);
}

// A pool's capacity (format.js capacity: logical bytes) and its raw figures on the disks.
export function usageOf(pool) {
  const u = pool?.usage;
  if (!u) return null;
  return { ...capacity(u), raw: u.size, rawUsed: u.used };
}

// The meter and the one line every page shows of a pool's usage.
export function usageBar(pool) {
  const u = usageOf(pool);
  if (!u) return html`<span class="muted">${pool.mounted ? '—' : 'not mounted'}</span>`;
  return html`
    <div class="usage">
      <meter aria-label="${pool.name} used" min="0" max=${u.size || 1} value=${u.used}
        low=${u.size * 0.8} high=${u.size * 0.9} optimum="0"></meter>
      <small class="usage-figures">${u.text}</small>
    </div>`;
}
