// What a valid name is (pools, shares, snapshots, tokens), as rockd/core/names.py says, in the
// form an <input pattern> takes (the browser checks it with the `v` flag: `-` is escaped).
export const NAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}';
