// The connection form of the Network screen: a new connection, or the one being changed
// (method, addresses, gateway, DNS, MTU; a bond's mode and slaves, a VLAN's parent and id, a
// bridge's ports). It answers the request's body; the screen sends it.
import { html } from 'lit';
import { ruledField } from '../lib/view.js';

export const KINDS = ['ethernet', 'bond', 'vlan', 'bridge'];
export const METHODS = [['dhcp', 'DHCP'], ['static', 'Static IP'],
  ['disabled', 'No IP (disabled)']];
const IFNAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,14}';
const IFNAME_RULE = '1 to 15 letters, digits, "_", "." or "-"';

// a text field's words as a list (commas, spaces or new lines between them)
export function words(text) {
  return (text ?? '').split(/[\s,]+/).filter(Boolean);
}

// The form's fields as the API's body: for a change only what differs from `conn`.
export function connectionBody(form, conn) {
  const data = new FormData(form);
  const get = (name) => (data.get(name) ?? '').toString().trim();
  const kind = conn?.kind ?? get('kind');
  const body = { method: get('method') };
  if (!conn) {
    body.interface = get('interface');
    body.kind = kind;
  }
  if (body.method === 'static') {
    body.addresses = words(get('addresses'));
    body.gateway = get('gateway') || null;
  } else if (conn) {
    body.gateway = null;
  }
  if (body.method !== 'disabled') body.dns = words(get('dns'));
  const mtu = get('mtu');
  if (mtu) body.mtu = Number(mtu);
  const members = data.getAll('members').map(String);
  if (kind === 'bond') body.bond = { mode: get('mode'), slaves: members };
  if (kind === 'bridge') body.bridge = { ports: members };
  if (kind === 'vlan') body.vlan = { parent: get('parent'), id: Number(get('vlan_id')) };
  if (!conn && !body.interface && kind === 'vlan') {
    body.interface = `${body.vlan.parent}.${body.vlan.id}`;
  }
  const within = get('confirm_within');
  if (within) body.confirm_within = Number(within);
  if (conn && body.method !== 'static' && conn.method === body.method) delete body.gateway;
  if (!conn && body.gateway === null) delete body.gateway;
  return body;
}

// The form itself; `view` gives its errors and state (kind, method) and `conn` its values.
// `free` the ethernet interfaces no other connection holds (for a new one, or as members)
export function connectionForm(view, conn, interfaces, free) {
  const kind = conn?.kind ?? view.kind;
  const method = view.method ?? conn?.method ?? 'dhcp';
  const ethernet = interfaces.filter((i) => i.type === 'ethernet').map((i) => i.name);
  const own = [...(conn?.bond?.slaves ?? []), ...(conn?.bridge?.ports ?? [])];
  const choices = ethernet.filter((n) => free.has(n) || own.includes(n));
  const members = new Set(conn?.bond?.slaves ?? conn?.bridge?.ports ?? []);
  return html`<form class="network-form" @submit=${(e) => view.submit(e)}
    @change=${(e) => view.formChanged(e)}>
    ${conn ? html`<h3>Change ${conn.interface} <small>${conn.kind}</small></h3>` : ''}
    <div class="form-grid">
      ${conn ? '' : html`
        <label>Kind
          <select name="kind">${KINDS.map((k) => html`<option ?selected=${k === kind}>${k}</option>`)}
          </select>${view.fieldError('kind')}</label>
        ${kind === 'ethernet' ? html`<label>Interface
            <select name="interface" aria-invalid=${view.invalid('interface')}>
              ${choices.map((n) => html`<option>${n}</option>`)}</select>
            ${view.fieldError('interface')}</label>`
        : ruledField('net-interface', 'Name', kind === 'vlan'
          ? `optional (parent.id); ${IFNAME_RULE}` : IFNAME_RULE, html`
            <input id="net-interface" name="interface" ?required=${kind !== 'vlan'}
              pattern=${IFNAME_PATTERN} maxlength="15" autocomplete="off"
              title=${`An interface name is ${IFNAME_RULE}.`} aria-describedby="net-interface-rule"
              placeholder=${kind === 'bond' ? 'bond0' : kind === 'bridge' ? 'br0' : 'eth0.100'}
              aria-invalid=${view.invalid('interface')}>`, view.fieldError('interface'))}`}
      <label>Method
        <select name="method">${METHODS.map(([value, text]) => html`
          <option value=${value} ?selected=${value === method}>${text}</option>`)}</select>
        ${view.fieldError('method')}</label>
      ${method === 'static' ? html`
        ${ruledField('net-addresses', 'Addresses', 'address/prefix, IPv4 or IPv6, one per line',
          html`<textarea id="net-addresses" name="addresses" rows="2" required
            aria-describedby="net-addresses-rule" aria-invalid=${view.invalid('addresses')}
            placeholder="192.0.2.5/24">${(conn?.addresses ?? []).join('\n')}</textarea>`,
          view.fieldError('addresses'))}
        <label>Gateway <small>optional</small>
          <input name="gateway" value=${conn?.gateway ?? ''} autocomplete="off"
            placeholder="192.0.2.1" aria-invalid=${view.invalid('gateway')}>
          ${view.fieldError('gateway')}</label>` : ''}
      ${method !== 'disabled' ? html`<label>DNS servers <small>optional</small>
          <input name="dns" value=${(conn?.dns ?? []).join(' ')} autocomplete="off"
            placeholder="192.0.2.53" aria-invalid=${view.invalid('dns')}>
          ${view.fieldError('dns')}</label>` : ''}
      <label>MTU <small>optional, 576 to 9216</small>
        <input name="mtu" type="number" min="576" max="9216" value=${conn?.mtu ?? ''}
          placeholder="automatic" aria-invalid=${view.invalid('mtu')}>${view.fieldError('mtu')}</label>
      ${kind === 'bond' ? html`<label>Bond mode
          <select name="mode">${['active-backup', '802.3ad'].map((m) => html`
            <option ?selected=${m === conn?.bond?.mode}>${m}</option>`)}</select>
          ${view.fieldError('bond')}</label>` : ''}
      ${kind === 'bond' || kind === 'bridge' ? html`<fieldset class="network-members">
          <legend>${kind === 'bond' ? 'Slaves' : 'Ports'}</legend>
          ${choices.map((n) => html`<label class="check"><input type="checkbox" name="members"
            value=${n} ?checked=${members.has(n)}> ${n}</label>`)}
          ${view.fieldError(kind)}</fieldset>` : ''}
      ${kind === 'vlan' ? html`<label>Parent
          <select name="parent" ?disabled=${Boolean(conn)}>${ethernet.map((n) => html`
            <option ?selected=${n === conn?.vlan?.parent}>${n}</option>`)}</select>
          ${view.fieldError('vlan.parent')}</label>
        <label>VLAN id <small>1 to 4094</small>
          <input name="vlan_id" type="number" min="1" max="4094" required
            value=${conn?.vlan?.id ?? ''} aria-invalid=${view.invalid('vlan')}>
          ${view.fieldError('vlan')}</label>` : ''}
      <label>Confirm within <small>optional seconds (10 to 600): roll back unless kept</small>
        <input name="confirm_within" type="number" min="10" max="600" placeholder="only if needed"
          aria-invalid=${view.invalid('confirm_within')}>${view.fieldError('confirm_within')}</label>
    </div>
    ${view.problem()}
    <div class="actions">
      <button class="primary" ?disabled=${view.busy || view.waiting}>${conn ? 'Apply'
        : 'Add connection'}</button>
      ${view.waiting ? html`<small>First keep or revert the change that waits.</small>` : ''}
      ${conn ? html`<button type="button" @click=${() => view.cancel()}>Cancel</button>` : ''}
    </div>
  </form>`;
}
