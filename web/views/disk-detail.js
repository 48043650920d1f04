// One disk (#/disks/{id}): its facts, its SMART report (read once when the page opens),
// importing the btrfs filesystem it holds, and wiping it when it is in no pool.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes, duration } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { View } from '../lib/view.js';
import { confirmAction } from '../components/confirm.js';
import { diskHealth, diskHolds } from './disk-facts.js';
import './disk-smart.js';
import './system-disk-power.js';

const yes = (value) => (value ? 'yes' : 'no');
const NO_SMART = new Set(['loop', 'virtio']);

class DiskDetail extends View {
  static properties = { ...View.properties, smart: { state: true } };

  constructor() {
    super();
    this.smart = null; // {loading} | {report} | {error, unsupported}
    this.smartFor = null; // the disk whose SMART was asked for
    this.asked = 0;
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    // once per disk opened, as soon as the disk is in the tree
    if (this.id && this.smartFor !== this.id && this.tree?.disks?.[this.id]) {
      this.smartFor = this.id;
      this.readSmart();
    }
  }

  // SMART is not in the tree (smartctl is slow): asked for once, when the page opens. Loop
  // and virtio disks have none; rockd answers 422 for them without asking smartctl.
  async readSmart() {
    const asked = ++this.asked;
    const id = this.id;
    const transport = this.tree?.disks?.[id]?.transport;
    if (NO_SMART.has(transport) && !this.tree?.disks?.[id]?.smart) {
      this.smart = { error: `A ${transport} disk has no SMART data.`, unsupported: true };
      return;
    }
    this.smart = { loading: true };
    let smart;
    try {
      smart = { report: await call('GET', `/disks/${encodeURIComponent(id)}/smart`) };
    } catch (err) {
      smart = { error: err.message, unsupported: err.code === 'smart_unsupported' };
    }
    if (asked === this.asked) this.smart = smart;
  }

  async wipe(disk) {
    const ok = await confirmAction({
      title: `Wipe ${disk.path}?`,
      message: `Every filesystem, RAID and partition-table signature on ${disk.path} is erased
        (wipefs --all), so the disk reads as empty and can go into a pool. The data blocks are
        not overwritten, but without those signatures what was on the disk is lost for any
        practical purpose.`,
      action: 'Wipe',
      typed: disk.name,
    });
    if (ok) {
      await this.act(() => call('POST', `/disks/${encodeURIComponent(disk.id)}/wipe`,
        { confirm: disk.id }));
    }
  }

  async import(disk) {
    const pool = await this.act(() => call('POST', '/pools/import', { disk: disk.id }));
    if (pool) go('pools', pool.id);
  }

  facts(disk) {
    const fs = disk.filesystem;
    return html`
      <dl>
        <dt>Path</dt><dd>${disk.path}</dd>
        <dt>Size</dt><dd>${bytes(disk.size)} <small>(${disk.size} bytes)</small></dd>
        <dt>Model</dt><dd>${disk.model ?? '—'}</dd>
        <dt>Serial</dt><dd>${disk.serial ?? '—'}</dd>
        <dt>WWN</dt><dd>${disk.wwn ?? '—'}</dd>
        <dt>Transport</dt><dd>${disk.transport ?? '—'}</dd>
        <dt>Kind</dt><dd>${disk.rotational ? 'rotating (HDD)' : 'solid state'}</dd>
        <dt>Removable</dt><dd>${yes(disk.removable)}</dd>
        <dt>Read-only</dt><dd>${yes(disk.read_only)}</dd>
        ${disk.backing_file ? html`<dt>Backing file</dt><dd>${disk.backing_file}</dd>` : ''}
        <dt>Managed by rockd</dt><dd>${disk.managed ? 'yes' : 'no: shown read-only'}</dd>
        <dt>Pool</dt><dd>${diskHolds(this.tree, disk)}</dd>
        <dt>Filesystem</dt><dd>${fs ? `${fs.type}${fs.label ? `, label ${fs.label}` : ''}${
          fs.uuid ? `, UUID ${fs.uuid}` : ''}` : 'none'}</dd>
        <dt>Partitions</dt><dd>${disk.partitions?.length ? disk.partitions.map((p) =>
          html`${p.name} (${bytes(p.size)}) `) : 'none'}</dd>
        <dt>Health</dt><dd>${diskHealth(disk)}</dd>
        <dt>Id</dt><dd><small>${disk.id}</small></dd>
      </dl>`;
  }

  attributes(list) {
    if (!list?.length) return html`<p class="muted">No attributes.</p>`;
    const ata = list.some((a) => a.id !== undefined);
    return html`
      <table class="wide labelled disk-smart">
        <thead><tr>${ata ? html`<th class="num">Id</th>` : ''}<th>Attribute</th>
          <th class="num">Value</th>${ata ? html`<th class="num">Worst</th>
          <th class="num">Threshold</th><th>Raw</th>` : ''}</tr></thead>
        <tbody>${list.map((a) => html`
          <tr class=${a.failing_now ? 'disk-failing' : ''}>
            ${ata ? html`<td data-label="Id" class="num">${a.id ?? ''}</td>` : ''}
            <td data-label="Attribute">${a.name ?? '—'}${a.failing_now
              ? html` <span class="badge bad">failing</span>` : ''}</td>
            <td data-label="Value" class="num">${typeof a.value === 'object'
              ? JSON.stringify(a.value) : a.value ?? '—'}</td>
            ${ata ? html`<td data-label="Worst" class="num">${a.worst ?? '—'}</td>
              <td data-label="Threshold" class="num">${a.threshold ?? '—'}</td>
              <td data-label="Raw">${a.raw_string ?? a.raw ?? '—'}</td>` : ''}
          </tr>`)}</tbody>
      </table>`;
  }

  smartCard() {
    const s = this.smart;
    let body;
    if (!s || s.loading) body = html`<p class="muted">Reading SMART…</p>`;
    else if (s.error) body = html`<p class=${s.unsupported ? 'muted' : 'error'}>${s.error}</p>`;
    else {
      const r = s.report;
      body = html`
        <dl>
          <dt>Overall health</dt><dd>${r.health === 'passed'
            ? html`<span class="badge good">passed</span>` : r.health === 'failed'
            ? html`<span class="badge bad">failed</span>` : 'not reported'}</dd>
          <dt>Temperature</dt><dd>${r.temperature ?? '—'}${r.temperature == null ? '' : ' °C'}</dd>
          <dt>Powered on</dt><dd>${r.power_on_hours == null ? '—'
            : `${r.power_on_hours} h (${duration(r.power_on_hours * 3600)})`}</dd>
          <dt>Power cycles</dt><dd>${r.power_cycles ?? '—'}</dd>
          <dt>Firmware</dt><dd>${r.firmware ?? '—'}</dd>
          <dt>Rotation</dt><dd>${r.rotation_rate == null ? '—'
            : r.rotation_rate === 0 ? 'solid state' : `${r.rotation_rate} rpm`}</dd>
        </dl>
        <h3>Attributes</h3>${this.attributes(r.attributes)}`;
    }
    return html`
      <section class="card" aria-labelledby="disk-smart" aria-busy=${s?.loading ? 'true' : 'false'}>
        <div class="title-row"><h2 id="disk-smart">SMART</h2>
          ${s?.unsupported ? '' : html`<button ?disabled=${s?.loading}
            @click=${() => this.readSmart()}>Read SMART again</button>`}
        </div>
        ${body}
      </section>`;
  }

  actions(disk) {
    const pool = disk.pool ? this.tree?.pools?.[disk.pool] : null;
    const fs = disk.filesystem;
    let wipe;
    if (!disk.managed) {
      wipe = html`<p>rockd does not manage this disk (it is not in <code>--devices</code>, or
        it holds the system), so it cannot be wiped or used here.</p>`;
    } else if (pool) {
      wipe = html`<p>This disk belongs to pool <a href=${href('pools', pool.id)}>${pool.name}</a>.
        Remove it from the pool, or delete the pool, before wiping it.</p>`;
    } else {
      wipe = html`
        <p>Wiping erases the signatures of whatever the disk holds (filesystems, RAID members,
          partition tables) so that rockd sees it as empty and can put it in a pool. Anything
          on it is lost.</p>
        ${!fs && !disk.partitions?.length
          ? html`<p class="muted">blkid finds nothing on it: it is free already.</p>` : ''}
        <button class="danger" ?disabled=${this.busy} @click=${() => this.wipe(disk)}>Wipe</button>`;
    }
    const importable = disk.managed && !pool && fs?.type === 'btrfs';
    return html`
      <section class="card">
        <h2>${importable ? 'Import or wipe' : 'Wipe'}</h2>
        ${importable ? html`
          <p>It holds a btrfs filesystem${fs.label ? html` labelled <strong>${fs.label}</strong>`
            : ''} that is not a pool of rockd. Importing takes it over as a pool, with its
            subvolumes as shares.</p>
          <button class="primary" ?disabled=${this.busy} @click=${() => this.import(disk)}>
            Import as pool</button>` : ''}
        ${wipe}
        ${this.problem()}
      </section>`;
  }

  render() {
    const disk = this.tree?.disks?.[this.id];
    if (!disk) {
      return html`<section class="card"><h1>Disk not found</h1>
        <p>No disk has the id ${this.id}; it may have been unplugged.</p>
        <p><a href=${href('disks')}>← Disks</a></p></section>`;
    }
    return html`
      <section class="card">
        <p><a href=${href('disks')}>← Disks</a></p>
        <h1>${disk.path}</h1>
        ${this.facts(disk)}
      </section>
      ${this.actions(disk)}
      <rockd-disk-power .tree=${this.tree} .rev=${this.rev} .id=${disk.id}></rockd-disk-power>
      <rockd-disk-smart .tree=${this.tree} .rev=${this.rev} .id=${disk.id}></rockd-disk-smart>
      ${this.smartCard()}`;
  }
}

customElements.define('rockd-disk-detail', DiskDetail);
