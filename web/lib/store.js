// The client-side mirror of rockd's state tree, kept exact by the stream's snapshots and patches.
// One websocket for the whole app; on reconnect it resubscribes with `since` and `epoch`.

function unescape(token) {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

function tokens(path) {
  return path === '' || path === '/' ? [] : path.slice(1).split('/').map(unescape);
}

// What changed in one tree since it arrived, so that a view of a large branch (10,000
// snapshots) can follow it without reading the whole branch on every patch: a running count of
// the ops applied, each branch's count at its last change, and the last LOG_SIZE ops as
// [branch, key under it] (key null when the op set the whole branch).
const LOG_SIZE = 4096;

export class Changes {
  constructor() {
    this.seq = 0;
    this.log = []; // this.log[i] is op number this.seq - this.log.length + 1 + i
    this.versions = new Map();
  }

  note(path) {
    const keys = tokens(path);
    this.seq += 1;
    this.versions.set(keys[0], this.seq);
    this.log.push([keys[0], keys.length > 1 ? keys[1] : null]);
    if (this.log.length > 2 * LOG_SIZE) this.log = this.log.slice(-LOG_SIZE);
  }

  // the count at `branch`'s last change (0: none since the tree arrived)
  version(branch) {
    return this.versions.get(branch) ?? 0;
  }

  // The keys of `branch` that changed after op number `mark`: an empty set when none did, or
  // null when the log does not reach back that far or an op set the whole branch.
  since(mark, branch) {
    const changed = new Set();
    if (this.version(branch) <= mark) return changed;
    const first = this.seq - this.log.length + 1;
    if (mark + 1 < first) return null;
    for (let i = mark + 1 - first; i < this.log.length; i += 1) {
      const [where, key] = this.log[i];
      if (where !== branch) continue;
      if (key === null) return null;
      changed.add(key);
    }
    return changed;
  }
}

const changes = new WeakMap(); // a tree → its Changes

// The changes made to `tree` (a store's tree) since the stream brought it whole.
export function changesOf(tree) {
  let found = changes.get(tree);
  if (!found) {
    found = new Changes();
    changes.set(tree, found);
  }
  return found;
}

// Apply one RFC 6902 op (add, remove, replace) to `doc`; parents are made where missing.
export function applyOp(doc, op) {
  const keys = tokens(op.path);
  const last = keys.pop();
  let node = doc;
  for (const key of keys) {
    if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key];
  }
  if (Array.isArray(node)) {
    const index = last === '-' ? node.length : Number(last);
    if (op.op === 'add') node.splice(index, 0, op.value);
    else if (op.op === 'remove') node.splice(index, 1);
    else node[index] = op.value;
  } else if (op.op === 'remove') {
    delete node[last];
  } else {
    node[last] = op.value;
  }
}

export class Store extends EventTarget {
  constructor(url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/stream`) {
    super();
    this.url = url;
    this.tree = {};
    this.rev = 0;
    this.epoch = null;
    this.connected = false;
    this.ready = false; // true once the first snapshot has arrived
    this.nextId = 1;
    this.retry = 500;
  }

  start() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.retry = 500;
      const message = { id: this.nextId++, type: 'subscribe', path: '' };
      if (this.epoch) Object.assign(message, { since: this.rev, epoch: this.epoch });
      ws.send(JSON.stringify(message));
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      this.setConnected(false);
      if (event.code === 1008 || event.code === 4401) return;
      // a refused upgrade (a session that ended, say) never opens: let the app find out why
      if (!opened) this.dispatchEvent(new Event('refused'));
      this.timer = setTimeout(() => this.start(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  receive(message) {
    if (message.type === 'snapshot') {
      this.tree = message.value ?? {};
      this.rev = message.rev;
      this.epoch = message.epoch;
      this.ready = true;
      this.setConnected(true);
    } else if (message.type === 'patch') {
      for (const op of message.ops) {
        if (op.path === '') {
          this.tree = op.value ?? {};
        } else {
          applyOp(this.tree, op);
          changesOf(this.tree).note(op.path);
        }
      }
      this.rev = message.rev;
      this.setConnected(true);
    } else {
      return;
    }
    this.dispatchEvent(new Event('change'));
  }

  setConnected(value) {
    if (this.connected === value) return;
    this.connected = value;
    this.dispatchEvent(new Event('connection'));
  }

  stop() {
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
    }
  }
}
