// The root of rockd's web UI: first-run setup or login, then the screens, all kept current by
// one websocket (lib/store.js). Views re-render from the store; moving between screens only
// changes the location's hash.
import { LitElement, html } from 'lit';
import { call, forget } from './lib/api.js';
import { metrics } from './lib/metrics.js';
import { SCREENS, current, href } from './lib/router.js';
import { Store } from './lib/store.js';
import './views/signin.js';
import './views/dashboard.js';
import './views/disks.js';
import './views/pools.js';
import './views/shares.js';
import './views/jobs.js';
import './views/schedules.js';
import './views/users.js';
import './views/exports.js';
import './views/services.js';
import './views/system.js';
import './views/network.js';
import './views/ups.js';
import './views/replication.js';
import './views/apps.js';
import './views/tokens.js';
import './views/settings-backup.js';
import { bell, notifyNew } from './views/alerts.js';
import './views/events.js';

function meta(name) {
  return document.querySelector(`meta[name="${name}"]`)?.content ?? '';
}

class RockdApp extends LitElement {
  static properties = {
    phase: { state: true },
    user: { state: true },
    route: { state: true },
    menuOpen: { state: true },
  };

  constructor() {
    super();
    this.route = current();
    this.menuOpen = false;
    this.store = null;
    if (meta('rockd-setup') === 'needed') this.phase = 'setup';
    else if (meta('rockd-user')) this.enter(meta('rockd-user'));
    else this.phase = 'login';
    window.addEventListener('hashchange', () => {
      this.route = current();
      this.menuOpen = false;
      window.scrollTo(0, 0);
    });
    window.addEventListener('rockd-signed-out', () => this.signedOut());
  }

  createRenderRoot() {
    return this;
  }

  enter(user) {
    this.user = user; // the user's name
    this.phase = 'live';
    this.store = new Store();
    this.seenAlerts = new Set(); // for the browser's notifications of new alerts
    this.store.addEventListener('change', () => {
      metrics.add(this.store.tree.system?.metrics);
      if (this.store.ready) notifyNew(this.store.tree, this.seenAlerts);
      this.requestUpdate();
    });
    this.store.addEventListener('connection', () => this.requestUpdate());
    // the stream was refused: if the session has ended, call() reports it and we sign out
    this.store.addEventListener('refused', () => call('GET', '/auth/session').catch(() => {}));
    this.store.start();
  }

  signedOut() {
    this.store?.stop();
    this.store = null;
    forget();
    this.phase = 'login';
  }

  async logout() {
    try {
      await call('POST', '/auth/logout');
    } finally {
      this.signedOut();
    }
  }

  screen() {
    const { screen, id } = this.route;
    const tree = this.store.tree;
    const rev = this.store.rev;
    switch (screen) {
      case 'disks': return html`<rockd-disks .tree=${tree} .rev=${rev} .id=${id}></rockd-disks>`;
      case 'pools': return html`<rockd-pools .tree=${tree} .rev=${rev} .id=${id}></rockd-pools>`;
      case 'shares': return html`<rockd-shares .tree=${tree} .rev=${rev} .id=${id}></rockd-shares>`;
      case 'jobs': return html`<rockd-jobs .tree=${tree} .rev=${rev} .id=${id}></rockd-jobs>`;
      case 'schedules':
        return html`<rockd-schedules .tree=${tree} .rev=${rev} .id=${id}></rockd-schedules>`;
      case 'users': return html`<rockd-users .tree=${tree} .rev=${rev} .id=${id}></rockd-users>`;
      case 'exports': return html`<rockd-exports .tree=${tree} .rev=${rev}></rockd-exports>`;
      case 'services': return html`<rockd-services .tree=${tree} .rev=${rev}></rockd-services>`;
      case 'system': return html`<rockd-system .tree=${tree} .rev=${rev}></rockd-system>`;
      case 'network': return html`<rockd-network .tree=${tree} .rev=${rev}></rockd-network>`;
      case 'ups': return html`<rockd-ups .tree=${tree} .rev=${rev}></rockd-ups>`;
      case 'replication':
        return html`<rockd-replication .tree=${tree} .rev=${rev}></rockd-replication>`;
      case 'apps': return html`<rockd-apps .tree=${tree} .rev=${rev} .id=${id}></rockd-apps>`;
      case 'tokens': return html`<rockd-tokens .tree=${tree} .rev=${rev}></rockd-tokens>`;
      case 'backup': return html`<rockd-settings-backup></rockd-settings-backup>`;
      case 'alerts': return html`<rockd-alerts .tree=${tree} .rev=${rev}></rockd-alerts>`;
      case 'events': return html`<rockd-events .tree=${tree} .rev=${rev}></rockd-events>`;
      case 'dashboard': return html`<rockd-dashboard .tree=${tree} .rev=${rev}></rockd-dashboard>`;
      default: return html`<section class="card not-found"><h1>Page not found</h1>
        <p>rockd has no page at <code>${location.hash}</code>.</p>
        <p><a href=${href('dashboard')}>Go to the dashboard</a></p></section>`;
    }
  }

  // On a narrow screen the sections are a menu the button opens; Escape closes it and gives
  // the focus back to the button.
  menuKey(event) {
    if (event.key !== 'Escape' || !this.menuOpen) return;
    this.menuOpen = false;
    this.querySelector('button.menu')?.focus();
  }

  navigation(here) {
    const title = SCREENS.find(([name]) => name === here)?.[1] ?? 'Menu';
    return html`
      <div class="navigation" @keydown=${(e) => this.menuKey(e)}>
        <button class="menu" aria-expanded=${this.menuOpen ? 'true' : 'false'} aria-controls="screens"
          @click=${() => { this.menuOpen = !this.menuOpen; }}>
          <span aria-hidden="true">☰</span> Menu <span class="here">· ${title}</span></button>
        <nav id="screens" aria-label="Screens" class=${this.menuOpen ? 'open' : ''}>
          ${SCREENS.map(([name, text]) => html`
            <a href=${href(name)} aria-current=${here === name ? 'page' : 'false'}>${text}</a>`)}
        </nav>
      </div>`;
  }

  render() {
    if (this.phase === 'setup' || this.phase === 'login') {
      return html`<rockd-signin .mode=${this.phase}
        @signed-in=${(e) => this.enter(e.detail.user)}></rockd-signin>`;
    }
    const system = this.store.tree.system ?? {};
    const here = this.route.screen;
    return html`
      <a class="skip" href="#main">Skip to content</a>
      <header>
        <a class="brand" href=${href('dashboard')}>rockd</a>
        <span class="host">${system.hostname ?? ''}</span>
        <span class="spacer"></span>
        ${this.store.connected ? '' : html`<span class="banner" role="status">Reconnecting…</span>`}
        ${bell(this.store.tree)}
        <span class="user">${this.user}</span>
        <button class="quiet" @click=${() => this.logout()}>Log out</button>
      </header>
      ${this.navigation(here)}
      <main id="main" tabindex="-1" data-rev=${this.store.rev}>
        ${this.store.ready ? this.screen() : html`<p>Loading…</p>`}
      </main>`;
  }
}

customElements.define('rockd-app', RockdApp);
