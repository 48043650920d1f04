// A job's title in words ("Install static-web", "Delete 1 snapshot on tank"), for every kind
// of job rockd runs; a kind it does not know reads as its name in words.
import { counted } from '../lib/format.js';

export function targetName(tree, job) {
  return tree?.pools?.[job.target]?.name ?? tree?.shares?.[job.target]?.name
    ?? tree?.disks?.[job.target]?.path ?? job.target ?? '';
}

function list(names) {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0] ?? '';
}

// "-dconvert=raid1 -mconvert=raid1c3": "raid1 data and raid1c3 metadata"
function conversion(args) {
  const found = [];
  for (const [flag, role] of [['d', 'data'], ['m', 'metadata'], ['s', 'system']]) {
    const arg = args.find((a) => a.startsWith(`-${flag}`) && a.includes('convert='));
    const profile = arg && /convert=([^,]+)/.exec(arg)?.[1];
    if (profile) found.push(`${profile} ${role}`);
  }
  return list(found);
}

function balanceTitle(job, name) {
  const args = (job.params?.args ?? []).filter((a) => a.startsWith('-') && a !== '--force');
  if (args.some((a) => a.includes('convert='))) return `Convert ${name} to ${conversion(args)}`;
  const filters = args.filter((a) => a !== '--full-balance');
  return filters.length ? `Balance ${name} (${filters.join(' ')})` : `Balance all of ${name}`;
}

function replaceTitle(job, name) {
  const [added, removed] = job.params?.disks ?? [];
  if (!added) return `Replace a disk of ${name}`;
  return `Replace ${removed ?? 'a missing disk'} with ${added} in ${name}`;
}

function removeTitle(job, name) {
  const disks = job.params?.disks ?? [];
  return disks.length ? `Remove ${list(disks)} from ${name}` : `Remove the missing disk from ${name}`;
}

function pruneTitle(job, name) {
  const count = job.params?.paths?.length;
  const what = typeof count === 'number' ? counted(count, 'snapshot') : 'snapshots';
  if (job.params?.replica) return `Delete ${what.replace('snapshot', 'replica')} on ${name}`;
  return `Delete ${what} on ${name}`;
}

const TITLES = {
  balance: balanceTitle,
  scrub: (job, name) => (job.params?.readonly ? `Check ${name} (read-only scrub)` : `Scrub ${name}`),
  device_remove: removeTitle,
  device_replace: replaceTitle,
  resize: (job, name) => `Resize ${name}`,
  prune: pruneTitle,
  app_install: (job, name) => `Install ${name}`,
  app_update: (job, name) => `Update ${name}`,
  app_uninstall: (job, name) => `Uninstall ${name}`,
  app_image_load: (job, name) => `Load the image file ${name}`,
  replicate: (job, name) => `Replicate ${name}`,
  smart_test: (job, name) => `${job.params?.type ?? 'SMART'} self-test of ${name}`
    .replace(/^./, (c) => c.toUpperCase()),
};

export function jobTitle(tree, job) {
  const name = targetName(tree, job);
  const title = TITLES[job.kind];
  if (title) return title(job, name);
  const words = String(job.kind ?? 'job').replaceAll('_', ' ');
  return `${words[0].toUpperCase()}${words.slice(1)}${name ? ` ${name}` : ''}`;
}
