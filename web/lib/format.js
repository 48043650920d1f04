// How numbers, sizes and times read on the page.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

export function bytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  let i = 0;
  let value = n;
  while (Math.abs(value) >= 1024 && i < UNITS.length - 1) { value /= 1024; i += 1; }
  return `${value.toFixed(i && value < 100 ? 1 : 0)} ${UNITS[i]}`;
}

export function rate(n) {
  return typeof n === 'number' ? `${bytes(n)}/s` : '—';
}

export function percent(fraction, digits = 0) {
  return typeof fraction === 'number' ? `${(fraction * 100).toFixed(digits)} %` : '—';
}

// A pool's capacity as every page shows it, from its usage in the tree: logical bytes, what
// the pool holds (stored) of what it can hold (capacity), and what can still be written.
export function capacity(usage) {
  if (!usage) return null;
  const used = usage.stored ?? 0;
  const free = usage.free_estimate ?? 0;
  const size = usage.capacity ?? used + free;
  const fraction = size ? used / size : 0;
  return {
    used, size, free, fraction,
    text: `${bytes(used)} used of ${bytes(size)} (${percent(fraction)}) · ${bytes(free)} free`,
  };
}

// "1.5 GiB", "500M", "2T" or a plain number of bytes to bytes; null when it does not read
export function parseSize(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?\s*$/i.exec(text ?? '');
  if (!match) return null;
  const power = ' kmgtpe'.indexOf(match[2].toLowerCase() || ' ');
  return Math.round(Number(match[1]) * 1024 ** power);
}

const WORDED = new Map(); // a time → its words (a table of snapshots says the same ones again)
// as Date.toLocaleString() says it, with one formatter for all
const DATE_TIME = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'numeric',
  day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });

export function when(stamp) {
  if (!stamp) return '—';
  let text = WORDED.get(stamp);
  if (text === undefined) {
    const date = new Date(stamp);
    text = Number.isNaN(date.getTime()) ? stamp : DATE_TIME.format(date);
    if (WORDED.size >= 20000) WORDED.clear();
    WORDED.set(stamp, text);
  }
  return text;
}

export function duration(seconds) {
  if (typeof seconds !== 'number') return '—';
  const s = Math.floor(seconds);
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  return `${minutes} min ${s % 60} s`;
}

export function byName(a, b) {
  return String(a.name ?? a.id).localeCompare(String(b.name ?? b.id));
}

// a count and its noun, singular for exactly one: counted(1, 'chunk') is '1 chunk'
export function counted(count, noun, nouns = `${noun}s`) {
  return `${count} ${count === 1 ? noun : nouns}`;
}
