// What a valid name is (pools, shares, snapshots, tokens), as rockd/core/names.py says, in the
// form an <input pattern> takes (the browser checks it with the `v` flag: `-` is escaped).
export const NAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}';
// The name rule in words, for the fields' titles and hints (rockd/core/models.py's NAME_RULE)
export const NAME_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";
