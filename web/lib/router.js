// Screens are addressed by the location's hash (#/pools/{id}), so moving between them never
// asks the server for anything: the stream has already brought every screen's data.

// Every screen, in the menu's order: [its address, its title]
export const SCREENS = [
  ['dashboard', 'Dashboard'],
  ['disks', 'Disks'],
  ['pools', 'Pools'],
  ['shares', 'Shares'],
  ['jobs', 'Jobs'],
  ['schedules', 'Schedules'],
  ['users', 'Users'],
  ['exports', 'Exports'],
  ['services', 'Services'],
  ['system', 'System'],
  ['network', 'Network'],
  ['ups', 'UPS'],
  ['replication', 'Replication'],
  ['apps', 'Apps'],
  ['alerts', 'Alerts'],
  ['events', 'Events'],
  ['tokens', 'API tokens'],
  ['backup', 'Backup'],
];

export function current() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean)
    .map(decodeURIComponent);
  return { screen: parts[0] ?? 'dashboard', id: parts[1] ?? null, rest: parts.slice(2) };
}

export function href(...parts) {
  return `#/${parts.map((part) => encodeURIComponent(part)).join('/')}`;
}

export function go(...parts) {
  location.hash = href(...parts);
}
