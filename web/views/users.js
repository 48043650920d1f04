// Users and groups (#/users, #/users/{name}): the machine's accounts, those made outside rockd
// too; system accounts (uid < 1000) are shown read-only. A password set here is both the login
// password and the Samba password; SSH keys let the user in over SFTP.
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { byName } from '../lib/format.js';
import { NAME_PATTERN } from '../lib/names.js';
import { go, href } from '../lib/router.js';
import { View, fields } from '../lib/view.js';
import './user-detail.js';

export const SHELLS = ['/usr/sbin/nologin', '/bin/bash', '/bin/sh'];
// user and group names: rockd's name rule, at most 32 long (the system's own limit)
const ACCOUNT_RULE = "1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit";
const ID_RULE = 'a number from 1000 to 60000';

// "a, b c" → ["a", "b", "c"]
export function words(text) {
  return (text ?? '').split(/[\s,]+/).filter(Boolean);
}

// one key a line; blank lines dropped
export function keyLines(text) {
  return (text ?? '').split('\n').map((line) => line.trim()).filter(Boolean);
}

customElements.define('rockd-users', class extends View {
  static properties = { ...View.properties, showSystem: { state: true } };

  constructor() {
    super();
    this.showSystem = false;
  }

  async createUser(event) {
    event.preventDefault();
    const form = event.target;
    const { groups, ssh_keys: keys, uid, ...body } = fields(form);
    if (groups) body.groups = words(groups);
    if (keys) body.ssh_keys = keyLines(keys);
    if (uid) body.uid = Number(uid);
    const user = await this.act(() => call('POST', '/users', body));
    if (user) {
      form.reset();
      go('users', user.name);
    }
  }

  async createGroup(event) {
    event.preventDefault();
    const form = event.target;
    const { name, gid } = fields(form);
    const body = gid ? { name, gid: Number(gid) } : { name };
    if (await this.act(() => call('POST', '/groups', body))) form.reset();
  }

  async deleteGroup(group) {
    const sure = await confirmAction({
      title: `Delete group ${group.name}?`,
      message: 'Its members stay; they are no longer in this group. Files keep their group id.',
      action: 'Delete',
    });
    if (sure) await this.act(() => call('DELETE', `/groups/${encodeURIComponent(group.name)}`));
  }

  // the name field of the form of class `form` ("User name" or "Group name"), with its rule
  accountName(title, form) {
    return html`<label>${title} <small>${ACCOUNT_RULE}</small>
      <input name="name" required pattern=${NAME_PATTERN} maxlength="32" autocomplete="off"
        title=${`A ${title.toLowerCase()} is ${ACCOUNT_RULE}.`}
        aria-invalid=${this.invalid('name', form)}>${this.fieldError('name', form)}</label>`;
  }

  render() {
    if (this.id) {
      return html`<rockd-user-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-user-detail>`;
    }
    const users = this.branch('users').filter((u) => this.showSystem || !u.system).sort(byName);
    const groups = this.branch('groups').filter((g) => this.showSystem || !g.system).sort(byName);
    return html`
      <section class="card">
        <div class="title-row">
          <h1>Users</h1>
          <label class="check"><input type="checkbox" .checked=${this.showSystem}
            @change=${(e) => { this.showSystem = e.target.checked; }}> Show system accounts</label>
        </div>
        ${users.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Name</th><th class="num">UID</th><th>Group</th><th>Groups</th>
              <th>Shell</th><th>Samba</th><th class="num">SSH keys</th></tr></thead>
            <tbody>${users.map((u) => html`
              <tr data-user=${u.name}>
                <td><a href=${href('users', u.name)}>${u.name}</a>
                  ${u.system ? html` <span class="badge">system</span>` : ''}</td>
                <td class="num" data-label="UID">${u.uid}</td>
                <td data-label="Group">${u.group}</td>
                <td data-label="Groups">${(u.groups ?? []).join(', ') || '—'}</td>
                <td data-label="Shell">${u.shell}</td>
                <td data-label="Samba">${u.samba ? 'yes' : 'no'}</td>
                <td class="num" data-label="SSH keys">${u.ssh_keys ?? 0}</td>
              </tr>`)}</tbody>
          </table>` : html`<p class="muted">No users yet besides the system's own.</p>`}
      </section>
      <section class="card">
        <h2>New user</h2>
        <form class="form-grid user-create" @submit=${(e) => this.createUser(e)}>
          ${this.accountName('User name', 'user-create')}
          <label>Password <small>login and Samba; optional; at least 8 characters</small>
            <input name="password" type="password" minlength="8" autocomplete="new-password"
              title="A password is at least 8 characters." aria-invalid=${this.invalid('password')}>
            ${this.fieldError('password')}</label>
          <label>Primary group <small>optional: a group of the same name</small>
            <input name="group" autocomplete="off" aria-invalid=${this.invalid('group')}>
            ${this.fieldError('group')}</label>
          <label>Other groups <small>separated by spaces or commas</small>
            <input name="groups" autocomplete="off" aria-invalid=${this.invalid('groups')}>
            ${this.fieldError('groups')}</label>
          <label>Shell <select name="shell">${SHELLS.map((s) => html`<option>${s}</option>`)}
            </select>${this.fieldError('shell')}</label>
          <label>UID <small>optional; ${ID_RULE}</small>
            <input name="uid" type="number" min="1000" max="60000" title=${`A UID is ${ID_RULE}.`}
              aria-invalid=${this.invalid('uid')}>${this.fieldError('uid')}</label>
          <label class="wide-field">SSH public keys <small>one a line, for SFTP</small>
            <textarea name="ssh_keys" rows="2" aria-invalid=${this.invalid('ssh_keys')}></textarea>
            ${this.fieldError('ssh_keys')}</label>
          ${this.lastForm?.classList.contains('user-create') ? this.problem() : ''}
          <div class="actions"><button class="primary" ?disabled=${this.busy}>Create user</button></div>
        </form>
      </section>
      <section class="card">
        <h2>Groups</h2>
        ${groups.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Name</th><th class="num">GID</th><th>Members</th><th></th></tr></thead>
            <tbody>${groups.map((g) => html`
              <tr data-group=${g.name}>
                <td>${g.name} ${g.system ? html`<span class="badge">system</span>` : ''}</td>
                <td class="num" data-label="GID">${g.gid}</td>
                <td data-label="Members">${(g.members ?? []).join(', ') || '—'}</td>
                <td>${g.system ? '' : html`<button @click=${() => this.deleteGroup(g)}>Delete</button>`}</td>
              </tr>`)}</tbody>
          </table>` : html`<p class="muted">No groups yet besides the system's own.</p>`}
        <form class="inline group-create" @submit=${(e) => this.createGroup(e)}>
          ${this.accountName('Group name', 'group-create')}
          <label>GID <small>optional; ${ID_RULE}</small> <input name="gid" type="number" min="1000"
            max="60000" title=${`A GID is ${ID_RULE}.`} aria-invalid=${this.invalid('gid')}>
            ${this.fieldError('gid')}</label>
          <button ?disabled=${this.busy}>Create group</button>
        </form>
        ${this.lastForm?.classList.contains('user-create') ? '' : this.problem()}
      </section>`;
  }
});
