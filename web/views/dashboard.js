// The dashboard: each pool's capacity and health, running jobs, disks with problems, and live
// charts of CPU, memory, network and disk I/O over the last hour.
import { html } from 'lit';
import '../components/chart.js';
import { isActive, jobRow } from '../components/job-row.js';
import { bytes, byName, duration, rate } from '../lib/format.js';
import { metrics } from '../lib/metrics.js';
import { href } from '../lib/router.js';
import { View } from '../lib/view.js';
import { alertsCard } from './alerts.js';
import { usageBar } from './pool-facts.js';

function deviceErrors(device) {
  return Object.values(device.errors ?? {}).reduce((sum, n) => sum + (n || 0), 0);
}

export function poolHealth(pool) {
  if (!pool.present) return ['missing', 'bad'];
  if (pool.degraded) return ['degraded', 'bad'];
  if (pool.devices.some((d) => deviceErrors(d))) return ['device errors', 'bad'];
  if (!pool.mounted) return ['not mounted', ''];
  return ['healthy', 'good'];
}

class Dashboard extends View {
  connectedCallback() {
    super.connectedCallback();
    metrics.load().then(() => this.requestUpdate());
  }

  pool(pool) {
    const [health, tone] = poolHealth(pool);
    return html`
      <article class="pool-summary" data-pool=${pool.id}>
        <h3><a href=${href('pools', pool.id)}>${pool.name}</a>
          <span class="badge ${tone}">${health}</span></h3>
        ${pool.usage ? usageBar(pool) : ''}
        <p class="muted">${pool.data ?? '—'} · ${pool.devices.length} disk${pool.devices.length === 1 ? '' : 's'}
          ${pool.exclusive_operation ? html` · ${pool.exclusive_operation}` : ''}</p>
      </article>`;
  }

  problems() {
    const found = [];
    for (const pool of this.branch('pools')) {
      for (const device of pool.devices) {
        const name = device.path ?? `device ${device.devid}`;
        if (device.missing) found.push(html`<li><strong>${name}</strong> is missing from
          <a href=${href('pools', pool.id)}>${pool.name}</a></li>`);
        else if (deviceErrors(device)) found.push(html`<li><strong>${name}</strong> in
          <a href=${href('pools', pool.id)}>${pool.name}</a> has ${deviceErrors(device)} errors</li>`);
      }
    }
    for (const disk of this.branch('disks')) {
      const health = disk.smart?.health;
      if (health === 'failed') {
        found.push(html`<li><a href=${href('disks', disk.id)}>${disk.path}</a> fails its SMART
          health check</li>`);
      }
    }
    return found;
  }

  render() {
    const pools = this.branch('pools').sort(byName);
    const jobs = this.branch('jobs').filter(isActive);
    const problems = this.problems();
    const system = this.tree.system ?? {};
    const memoryTotal = system.metrics?.memory_total;
    const v = metrics.version;
    return html`
      <h1>Dashboard</h1>
      <div class="grid">
        ${alertsCard(this.tree)}
        <section class="card">
          <h2>Pools</h2>
          ${pools.length ? pools.map((p) => this.pool(p))
            : html`<p>No pools yet. <a href=${href('pools', 'new')}>Create one</a> from empty disks.</p>`}
        </section>
        <section class="card">
          <h2>Running jobs</h2>
          ${jobs.length ? jobs.map((j) => jobRow(j, this)) : html`<p>Nothing is running.</p>`}
          ${this.problem()}
        </section>
        <section class="card">
          <h2>Disks with problems</h2>
          ${problems.length ? html`<ul>${problems}</ul>` : html`<p class="ok">None.</p>`}
        </section>
      </div>
      <section class="card">
        <div class="title-row">
          <h2>${system.hostname ?? 'System'}</h2>
          <span class="muted">up ${duration(system.uptime)} · kernel ${system.kernel ?? ''} ·
            rockd ${system.versions?.rockd ?? ''}</span>
        </div>
        <div class="charts">
          <rockd-chart class="chart" heading="CPU" .version=${v} ceiling="100"
            .series=${[{ key: 'cpu', label: 'busy', scale: (x) => (x == null ? null : x * 100) }]}
            .format=${(x) => `${x.toFixed(0)} %`}></rockd-chart>
          <rockd-chart class="chart" heading="Memory" .version=${v} .ceiling=${memoryTotal}
            .series=${[{ key: 'memory_used', label: 'used' }]} .format=${bytes}></rockd-chart>
          <rockd-chart class="chart" heading="Network" .version=${v}
            .series=${[{ key: 'net_rx', label: 'received' }, { key: 'net_tx', label: 'sent' }]}
            .format=${rate}></rockd-chart>
          <rockd-chart class="chart" heading="Disk I/O" .version=${v}
            .series=${[{ key: 'disk_read', label: 'read' }, { key: 'disk_write', label: 'write' }]}
            .format=${rate}></rockd-chart>
        </div>
      </section>`;
  }
}

customElements.define('rockd-dashboard', Dashboard);
