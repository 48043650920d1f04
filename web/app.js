// The rockd web UI's root element: setup or login first, then the live view of the state tree.
import { LitElement, html } from 'lit';
import { call, forget } from './api.js';
import { Store } from './store.js';

function bytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

class RockdApp extends LitElement {
  static properties = {
    phase: { state: true },
    user: { state: true },
    error: { state: true },
  };

  constructor() {
    super();
    const setup = document.querySelector('meta[name="rockd-setup"]')?.content;
    this.phase = setup === 'needed' ? 'setup' : 'checking';
    this.error = '';
    this.store = null;
  }

  createRenderRoot() {
    return this; // plain DOM, styled by style.css
  }

  async connectedCallback() {
    super.connectedCallback();
    if (this.phase === 'checking') {
      try {
        const session = await call('GET', '/auth/session');
        this.enter(session.user);
      } catch {
        this.phase = 'login';
      }
    }
  }

  enter(user) {
    this.user = user;
    this.phase = 'live';
    this.store = new Store();
    this.store.addEventListener('change', () => this.requestUpdate());
    this.store.addEventListener('connection', () => this.requestUpdate());
    this.store.start();
  }

  async submit(event, path) {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const answer = await call('POST', path, {
        username: form.get('username'), password: form.get('password'),
      });
      this.error = '';
      this.enter(answer.user);
    } catch (err) {
      this.error = err.message;
    }
  }

  async logout() {
    await call('POST', '/auth/logout');
    forget();
    this.store?.stop();
    this.store = null;
    this.phase = 'login';
  }

  credentials(title, path, action) {
    return html`
      <main class="card narrow">
        <h1>rockd</h1>
        <h2>${title}</h2>
        <form @submit=${(e) => this.submit(e, path)}>
          <label>User name <input name="username" autocomplete="username" required
            value=${path === '/setup' ? 'admin' : ''}></label>
          <label>Password <input name="password" type="password" required minlength="8"
            autocomplete=${path === '/setup' ? 'new-password' : 'current-password'}></label>
          <button type="submit">${action}</button>
          ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        </form>
      </main>`;
  }

  render() {
    if (this.phase === 'setup') return this.credentials('Create the administrator', '/setup', 'Set up');
    if (this.phase === 'login') return this.credentials('Log in', '/auth/login', 'Log in');
    if (this.phase !== 'live') return html`<main class="card narrow">Loading…</main>`;
    const tree = this.store.tree;
    const system = tree.system ?? {};
    const disks = Object.values(tree.disks ?? {});
    const pools = Object.values(tree.pools ?? {});
    const shares = Object.values(tree.shares ?? {});
    const jobs = Object.values(tree.jobs ?? {}).sort((a, b) => (b.started ?? '').localeCompare(a.started ?? ''));
    const poolName = (id) => tree.pools?.[id]?.name ?? id;
    return html`
      <header>
        <strong>rockd</strong> <span>${system.hostname ?? ''}</span>
        <span class="spacer"></span>
        ${this.store.connected ? '' : html`<span class="banner" role="status">reconnecting…</span>`}
        <span>rev ${this.store.rev}</span>
        <span>${this.user?.name}</span>
        <button @click=${() => this.logout()}>Log out</button>
      </header>
      <main>
        <section class="card">
          <h2>Pools</h2>
          ${pools.length ? '' : html`<p>No pools yet.</p>`}
          ${pools.map((p) => html`
            <article class="pool">
              <h3>${p.name} <small>${p.data ?? ''}${p.degraded ? html` · <span class="error">degraded</span>` : ''}
                ${p.mounted ? '' : ' · not mounted'}</small></h3>
              ${p.usage ? html`
                <meter min="0" max=${p.usage.size} value=${p.usage.used}></meter>
                <p>${bytes(p.usage.used)} used of ${bytes(p.usage.size)} raw · ${bytes(p.usage.free_estimate)} free</p>` : ''}
              <p>${p.devices.length} disks${p.exclusive_operation ? html` · ${p.exclusive_operation}` : ''}</p>
            </article>`)}
        </section>
        <section class="card">
          <h2>Jobs</h2>
          ${jobs.length ? '' : html`<p>No jobs.</p>`}
          ${jobs.slice(0, 10).map((j) => html`
            <div class="job">
              <span>${j.kind} · ${poolName(j.target)}</span>
              <progress max="1" value=${j.progress ?? 0}></progress>
              <span class=${j.state === 'failed' ? 'error' : ''}>${j.state}</span>
              <small>${j.error ?? j.detail}</small>
            </div>`)}
        </section>
        <section class="card">
          <h2>Shares</h2>
          <table>
            <thead><tr><th>Name</th><th>Pool</th><th>Quota</th><th>Snapshots</th></tr></thead>
            <tbody>
              ${shares.map((s) => html`
                <tr><td>${s.name}</td><td>${poolName(s.pool)}</td><td>${s.quota ? bytes(s.quota) : '—'}</td>
                <td>${Object.values(tree.snapshots ?? {}).filter((n) => n.share === s.id).length}</td></tr>`)}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>Disks</h2>
          <table>
            <thead><tr><th>Path</th><th>Size</th><th>Pool</th><th>Managed</th></tr></thead>
            <tbody>
              ${disks.map((d) => html`
                <tr><td>${d.path}</td><td>${bytes(d.size)}</td><td>${d.pool ? poolName(d.pool) : '—'}</td>
                <td>${d.managed ? 'yes' : 'no'}</td></tr>`)}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>System</h2>
          <dl>
            <dt>Kernel</dt><dd>${system.kernel ?? ''}</dd>
            <dt>Booted</dt><dd>${system.boot_time ?? ''}</dd>
            <dt>rockd</dt><dd>${system.versions?.rockd ?? ''}</dd>
            <dt>btrfs-progs</dt><dd>${system.versions?.btrfs_progs ?? ''}</dd>
          </dl>
        </section>
      </main>`;
  }
}

customElements.define('rockd-app', RockdApp);
