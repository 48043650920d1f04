// One branch of the tree (the snapshots, shares, disks or jobs) as a sorted list that follows
// the tree patch by patch: the items a patch changed are taken out and put back in their place
// (a binary search), so a patch to one of 10,000 snapshots never sorts them all again.
import { changesOf } from './store.js';

// names and paths compare as people read them ("disk2" before "disk10"); one collator for all,
// since String.localeCompare makes a new one on every call
export const collator = new Intl.Collator(undefined, { numeric: true });

// a first, then b (plain strings: ISO times, ids)
export function byText(a, b) {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

export class Rows {
  // `branch`: the tree's top-level key; `keep(item)`: whether an item belongs to the list
  constructor(branch, keep = () => true) {
    this.branch = branch;
    this.keep = keep;
    this.tree = null;
    this.compare = null;
    this.mark = 0; // the tree's op count at the last look
    this.items = [];
    this.held = new Map(); // key → the item object as it is in this.items
    this.version = 0; // goes up whenever this.items changes
  }

  // The branch's kept items of `tree`, in the order of `compare`.
  sorted(tree, compare) {
    const log = changesOf(tree);
    const changed = this.tree === tree && this.compare === compare
      ? log.since(this.mark, this.branch) : null;
    if (changed === null || changed.size > 64 + this.items.length / 8) this.rebuild(tree, compare);
    else if (changed.size) this.patch(tree, changed);
    this.mark = log.seq;
    return this.items;
  }

  rebuild(tree, compare) {
    this.tree = tree;
    this.compare = compare;
    this.held = new Map();
    for (const [key, item] of Object.entries(tree?.[this.branch] ?? {})) {
      if (item && this.keep(item)) this.held.set(key, item);
    }
    this.items = [...this.held.values()].sort(compare);
    this.version += 1;
  }

  patch(tree, keys) {
    const branch = tree?.[this.branch] ?? {};
    for (const key of keys) {
      const old = this.held.get(key);
      if (old !== undefined) {
        this.items.splice(this.items.indexOf(old), 1);
        this.held.delete(key);
      }
      const item = Object.hasOwn(branch, key) ? branch[key] : undefined;
      if (item && this.keep(item)) {
        this.items.splice(this.place(item), 0, item);
        this.held.set(key, item);
      }
    }
    this.version += 1;
  }

  // where `item` goes in this.items (after its equals)
  place(item) {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compare(this.items[middle], item) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
