// The last hour of /system/metrics, as columns for the charts: filled once from the history
// endpoint, then extended by every sample the stream brings.
import { call } from './api.js';

export const FIELDS = ['cpu', 'memory_used', 'memory_total', 'net_rx', 'net_tx', 'disk_read',
  'disk_write'];
const WINDOW = 3600;

export class MetricsHistory {
  constructor() {
    this.columns = { time: [], ...Object.fromEntries(FIELDS.map((f) => [f, []])) };
    this.loading = null;
    this.version = 0; // changes whenever the columns do
  }

  // Ask for the stored hour once; samples that arrived meanwhile are kept after it.
  load() {
    this.loading ??= call('GET', '/system/metrics/history?seconds=3600').then((history) => {
      const last = history.time.at(-1) ?? -Infinity;
      const start = this.columns.time.findIndex((t) => t > last);
      for (const key of ['time', ...FIELDS]) {
        const streamed = start === -1 ? [] : this.columns[key].slice(start);
        this.columns[key] = [...(history[key] ?? []), ...streamed];
      }
      this.version += 1;
    }).catch(() => { this.loading = null; });
    return this.loading;
  }

  add(sample) {
    if (!sample || typeof sample.time !== 'number') return;
    const times = this.columns.time;
    if (times.length && sample.time <= times.at(-1)) return;
    times.push(sample.time);
    for (const key of FIELDS) this.columns[key].push(sample[key] ?? null);
    const old = times.findIndex((t) => t >= sample.time - WINDOW);
    if (old > 0) for (const key of ['time', ...FIELDS]) this.columns[key].splice(0, old);
    this.version += 1;
  }
}

export const metrics = new MetricsHistory();
