// Exports (#/exports): shares offered over Samba (SMB), NFS and SFTP — each kind's list with
// its settings, a form to add one, editing in place, and removal. A configuration file edited
// by hand shows as drift: rockd's next change to that kind writes it anew. Each SMB and SFTP
// export says who can really write to its share (`writable_by`, from the share folder's owner,
// group, mode and ACL) and offers the fix for each user who cannot.
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { byName } from '../lib/format.js';
import { href } from '../lib/router.js';
import { View, fields } from '../lib/view.js';
import { words } from './users.js';

const KINDS = [
  ['smb', 'Samba (SMB)', 'Windows, macOS and Linux desktops reach the share as a network drive.'],
  ['nfs', 'NFS', 'Linux and Unix machines mount the share; access is by host, not by user.'],
  ['sftp', 'SFTP', 'Named users reach the share over SSH, each locked into their own folder.'],
];

const NEW_CLIENT = { host: '', rw: true, sync: true, root_squash: true };

// the ways to let a user write to a share's folder (POST /shares/{id}/writers)
const FIXES = [
  ['owner', 'Make owner', 'the folder becomes theirs (its owner gets write)'],
  ['group', 'Give their group', "the folder's group becomes the user's own group, with write"],
  ['acl', 'Add an ACL entry', 'an ACL entry gives them write; owner and group stay'],
];

// the body of an SMB export from its form (checkboxes are absent when not ticked)
function smbBody(form) {
  const data = fields(form);
  const body = {
    comment: data.comment ?? '',
    browseable: form.elements.browseable.checked,
    read_only: form.elements.read_only.checked,
    guest_ok: form.elements.guest_ok.checked,
    previous_versions: form.elements.previous_versions.checked,
    valid_users: words(data.valid_users),
    valid_groups: words(data.valid_groups),
  };
  if (data.name) body.name = data.name;
  return body;
}

// whether anyone can write, in words: what the share's folder allows, not the setting alone
function writable(item) {
  const can = item.writable_by?.users ?? [];
  return can.length ? `writable by ${can.join(', ')}` : 'no one can write';
}

customElements.define('rockd-exports', class extends View {
  static properties = {
    ...View.properties,
    editing: { state: true }, // the id of the export whose form is open
    clients: { state: true }, // the NFS form's client rows
  };

  constructor() {
    super();
    this.editing = null;
    this.clients = [{ ...NEW_CLIENT }];
  }

  shares() {
    return this.branch('shares').sort(byName);
  }

  people() {
    return this.branch('users').filter((u) => !u.system).sort(byName);
  }

  body(kind, form) {
    if (kind === 'smb') return smbBody(form);
    if (kind === 'nfs') return { clients: this.clients.filter((c) => c.host) };
    return { users: [...form.querySelectorAll('input[name="users"]:checked')].map((i) => i.value) };
  }

  async create(event, kind) {
    event.preventDefault();
    const form = event.target;
    const body = { share: form.elements.share.value, ...this.body(kind, form) };
    if (await this.act(() => call('POST', `/exports/${kind}`, body))) {
      form.reset();
      this.clients = [{ ...NEW_CLIENT }];
    }
  }

  async save(event, kind, item) {
    event.preventDefault();
    if (await this.act(() => call('PATCH', `/exports/${kind}/${item.id}`,
      this.body(kind, event.target)))) {
      this.editing = null;
    }
  }

  edit(kind, item) {
    this.editing = item.id;
    if (kind === 'nfs') this.clients = item.clients.map((c) => ({ ...c }));
  }

  async letWrite(item, user, how) {
    const done = await this.act(() => call('POST', `/shares/${item.share}/writers`,
      { user, how }));
    if (done) this.note = `${user} can now write to ${item.share_name ?? item.share}.`;
  }

  // who can write, and for each user who cannot, the ways to let them
  writers(item) {
    const who = item.writable_by;
    if (!who?.denied?.length) return '';
    const share = this.tree?.shares?.[item.share];
    const owned = share ? ` (owned by ${share.owner ?? '?'}:${share.group ?? '?'}, mode
      ${share.mode ?? '?'})` : '';
    return html`
      <div class="warn writers" role="status" data-denied=${who.denied.join(' ')}>
        <p>${who.denied.join(', ')} ${who.denied.length === 1 ? 'signs' : 'sign'} in but cannot
          write to ${item.share_name ?? item.share}${owned}.</p>
        ${who.denied.map((user) => html`
          <div class="actions" data-user=${user}><span>Let ${user} write:</span>
            ${FIXES.map(([how, label, about]) => html`<button type="button" title=${about}
              ?disabled=${this.busy} @click=${() => this.letWrite(item, user, how)}>
              ${label}</button>`)}
          </div>`)}
      </div>`;
  }

  async drop(kind, item) {
    const sure = await confirmAction({
      title: `Stop exporting ${item.share_name ?? item.share} over ${kind.toUpperCase()}?`,
      message: 'Clients connected through this export lose it. The share and its data stay.',
      action: 'Stop exporting',
    });
    if (sure) await this.act(() => call('DELETE', `/exports/${kind}/${item.id}`));
  }

  // -- the kinds' fields ---------------------------------------------------------------------
  // A box's default is its `checked` attribute: the form's reset() after an export puts that
  // back, where a property alone would leave every box unticked.

  // `form`: the class of the form these fields are in, where an error naming one shows
  smbFields(item = {}, form = '') {
    const on = (key, fallback) => item[key] ?? fallback;
    const error = (name) => this.fieldError(name, form);
    return html`
      <label>Name on the network <small>default: the share's</small>
        <input name="name" .value=${item.name ?? ''} autocomplete="off" maxlength="64"
          aria-invalid=${this.invalid('name', form)}>${error('name')}</label>
      <label>Comment <input name="comment" .value=${item.comment ?? ''} maxlength="128"
        autocomplete="off" aria-invalid=${this.invalid('comment', form)}>${error('comment')}</label>
      <label>Valid users <small>none: every user</small>
        <input name="valid_users" .value=${(item.valid_users ?? []).join(' ')} autocomplete="off"
          aria-invalid=${this.invalid('valid_users', form)}>${error('valid_users')}</label>
      <label>Valid groups <input name="valid_groups" .value=${(item.valid_groups ?? []).join(' ')}
        autocomplete="off" aria-invalid=${this.invalid('valid_groups', form)}>${error('valid_groups')}
      </label>
      <label class="check"><input type="checkbox" name="browseable" ?checked=${on('browseable', true)}>
        Browseable</label>
      <label class="check"><input type="checkbox" name="read_only" ?checked=${on('read_only', false)}>
        Read-only</label>
      <label class="check"><input type="checkbox" name="guest_ok" ?checked=${on('guest_ok', false)}>
        Guests allowed</label>
      <label class="check"><input type="checkbox" name="previous_versions"
        ?checked=${on('previous_versions', true)}> Snapshots as previous versions</label>`;
  }

  nfsFields() {
    const set = (i, key, value) => {
      this.clients = this.clients.map((c, j) => (j === i ? { ...c, [key]: value } : c));
    };
    return html`
      <fieldset class="wide-field">
        <legend>Clients</legend>
        ${this.clients.map((c, i) => html`
          <div class="actions nfs-client">
            <label>Host <small>address, network (10.0.0.0/24) or name</small>
              <input .value=${c.host} required autocomplete="off"
                @input=${(e) => set(i, 'host', e.target.value.trim())}></label>
            <label class="check"><input type="checkbox" ?checked=${c.rw} .checked=${c.rw}
              @change=${(e) => set(i, 'rw', e.target.checked)}> Writable</label>
            <label class="check"><input type="checkbox" ?checked=${c.sync} .checked=${c.sync}
              @change=${(e) => set(i, 'sync', e.target.checked)}> Sync</label>
            <label class="check"><input type="checkbox" ?checked=${c.root_squash}
              .checked=${c.root_squash}
              @change=${(e) => set(i, 'root_squash', e.target.checked)}> Root squash</label>
            ${this.clients.length > 1 ? html`<button type="button"
              @click=${() => { this.clients = this.clients.filter((_, j) => j !== i); }}>
              Remove client</button>` : ''}
          </div>`)}
        <div class="actions"><button type="button"
          @click=${() => { this.clients = [...this.clients, { ...NEW_CLIENT }]; }}>
          Add client</button></div>
      </fieldset>`;
  }

  sftpFields(item = {}) {
    const people = this.people();
    if (!people.length) {
      return html`<p class="muted wide-field">SFTP is for named users:
        <a href=${href('users')}>create one</a> first.</p>`;
    }
    return html`
      <fieldset class="wide-field">
        <legend>Users</legend>
        ${people.map((u) => html`
          <label class="check"><input type="checkbox" name="users" value=${u.name}
            ?checked=${(item.users ?? []).includes(u.name)}> ${u.name}</label>`)}
      </fieldset>`;
  }

  kindFields(kind, item, form = '') {
    if (kind === 'smb') return this.smbFields(item, form);
    if (kind === 'nfs') return this.nfsFields();
    return this.sftpFields(item);
  }

  summary(kind, item) {
    if (kind === 'smb') {
      const write = item.read_only ? 'read-only' : writable(item);
      const flags = [write, item.guest_ok ? 'guests' : '',
        item.previous_versions ? 'previous versions' : ''].filter(Boolean).join(', ');
      const who = [...(item.valid_users ?? []), ...(item.valid_groups ?? []).map((g) => `@${g}`)];
      return html`${item.name ?? item.share_name} · ${flags} · ${who.length ? who.join(', ')
        : 'every user'}`;
    }
    if (kind === 'nfs') {
      return item.clients.map((c) => `${c.host} (${c.rw ? 'rw' : 'ro'}, ${c.sync ? 'sync'
        : 'async'}${c.root_squash ? '' : ', no root squash'})`).join(' · ');
    }
    return `${(item.users ?? []).join(', ')} · ${writable(item)}`;
  }

  section([kind, title, about]) {
    const items = Object.values(this.tree?.exports?.[kind] ?? {})
      .sort((a, b) => String(a.share_name).localeCompare(String(b.share_name)));
    const config = this.tree?.configs?.[kind];
    const shares = this.shares();
    return html`
      <section class="card" data-kind=${kind}>
        <h2>${title}</h2>
        <p class="muted">${about}</p>
        ${config?.drift ? html`<p class="warn" role="status">${config.path} was edited by hand;
          rockd's next change to these exports writes it anew.</p>` : ''}
        ${config && config.applied === false ? html`<p class="muted">Not applied:
          ${config.reason}.</p>` : ''}
        ${items.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Share</th><th>Settings</th><th></th></tr></thead>
            <tbody>${items.map((item) => html`
              <tr data-export=${item.id}>
                <td><a href=${href('shares', item.share)}>${item.share_name ?? item.share}</a>
                  ${item.active === false ? html` <span class="badge bad">share absent</span>` : ''}</td>
                <td data-label="Settings">${this.summary(kind, item)}${this.writers(item)}</td>
                <td class="actions">
                  <button @click=${() => this.edit(kind, item)}>Edit</button>
                  <button @click=${() => this.drop(kind, item)}>Stop exporting</button></td>
              </tr>
              ${this.editing === item.id ? html`<tr><td colspan="3">
                <form class="form-grid edit-${kind}" @submit=${(e) => this.save(e, kind, item)}>
                  ${this.kindFields(kind, item, `edit-${kind}`)}
                  <div class="actions"><button class="primary" ?disabled=${this.busy}>Save</button>
                    <button type="button" @click=${() => { this.editing = null; }}>Cancel</button></div>
                </form></td></tr>` : ''}`)}</tbody>
          </table>` : html`<p>No ${title} exports.</p>`}
        ${shares.length && this.editing === null ? html`
          <h3>Export a share over ${title}</h3>
          <form class="form-grid new-${kind}" @submit=${(e) => this.create(e, kind)}>
            <label>Share <select name="share">${shares.map((s) => html`
              <option value=${s.id}>${s.name} (${this.poolName(s.pool)})</option>`)}</select>
              ${this.fieldError('share', `new-${kind}`)}</label>
            ${this.kindFields(kind, {}, `new-${kind}`)}
            <div class="actions"><button class="primary" ?disabled=${this.busy}>
              Export over ${kind.toUpperCase()}</button></div>
          </form>` : ''}
      </section>`;
  }

  render() {
    const sections = KINDS.map((k) => this.section(k)); // first: they show their fields' errors
    return html`
      <h1>Exports</h1>
      ${this.problem()}
      ${this.notice()}
      ${sections}`;
  }
});
