// The safety check as pictures: 64 pictures with short names, each the same in every language
// (the name is translated), as in Matrix's SAS emoji list (its order and names, so people who
// know that check see the same set). Seven pictures carry 42 bits of the safety hash: six bits
// each, from the first bytes, most significant first. No DOM and no page state here: the unit
// test imports this module as it is.

// Marks the names for the catalog (`python -m signalling.http.i18n extract` finds t('...'));
// they are translated where they are shown (safety-code.js).
const t = (text) => text;

/** [picture, English name]: index i is the picture for the six bits of value i. */
export const SAS_EMOJI = Object.freeze([
  ['🐶', t('Dog')],
  ['🐱', t('Cat')],
  ['🦁', t('Lion')],
  ['🐎', t('Horse')],
  ['🦄', t('Unicorn')],
  ['🐷', t('Pig')],
  ['🐘', t('Elephant')],
  ['🐰', t('Rabbit')],
  ['🐼', t('Panda')],
  ['🐓', t('Rooster')],
  ['🐧', t('Penguin')],
  ['🐢', t('Turtle')],
  ['🐟', t('Fish')],
  ['🐙', t('Octopus')],
  ['🦋', t('Butterfly')],
  ['🌷', t('Flower')],
  ['🌳', t('Tree')],
  ['🌵', t('Cactus')],
  ['🍄', t('Mushroom')],
  ['🌏', t('Globe')],
  ['🌙', t('Moon')],
  ['☁️', t('Cloud')],
  ['🔥', t('Fire')],
  ['🍌', t('Banana')],
  ['🍎', t('Apple')],
  ['🍓', t('Strawberry')],
  ['🌽', t('Corn')],
  ['🍕', t('Pizza')],
  ['🎂', t('Cake')],
  ['❤️', t('Heart')],
  ['😀', t('Smiley')],
  ['🤖', t('Robot')],
  ['🎩', t('Hat')],
  ['👓', t('Glasses')],
  ['🔧', t('Spanner')],
  ['🎅', t('Santa')],
  ['👍', t('Thumbs Up')],
  ['☂️', t('Umbrella')],
  ['⌛', t('Hourglass')],
  ['⏰', t('Clock')],
  ['🎁', t('Gift')],
  ['💡', t('Light Bulb')],
  ['📕', t('Book')],
  ['✏️', t('Pencil')],
  ['📎', t('Paperclip')],
  ['✂️', t('Scissors')],
  ['🔒', t('Lock')],
  ['🔑', t('Key')],
  ['🔨', t('Hammer')],
  ['☎️', t('Telephone')],
  ['🏁', t('Flag')],
  ['🚂', t('Train')],
  ['🚲', t('Bicycle')],
  ['✈️', t('Aeroplane')],
  ['🚀', t('Rocket')],
  ['🏆', t('Trophy')],
  ['⚽', t('Ball')],
  ['🎸', t('Guitar')],
  ['🎺', t('Trumpet')],
  ['🔔', t('Bell')],
  ['⚓', t('Anchor')],
  ['🎧', t('Headphones')],
  ['📁', t('Folder')],
  ['📌', t('Pin')],
]);

/** How many pictures a code shows. */
export const SAS_COUNT = 7;

/** The indexes into SAS_EMOJI for the first 6 * count bits of `bytes` (a hash). */
export function sasIndices(bytes, count = SAS_COUNT) {
  const data = new Uint8Array(bytes);
  if (data.length * 8 < count * 6) throw new RangeError('not enough bytes for the pictures');
  const result = [];
  for (let i = 0; i < count; i += 1) {
    let value = 0;
    for (let bit = i * 6; bit < i * 6 + 6; bit += 1) {
      value = (value << 1) | ((data[bit >> 3] >> (7 - (bit & 7))) & 1);
    }
    result.push(value);
  }
  return result;
}

/** The pictures for `bytes`: [{index, emoji, name}] with the English names. */
export function sasEmoji(bytes, count = SAS_COUNT) {
  return sasIndices(bytes, count).map((index) => ({
    index, emoji: SAS_EMOJI[index][0], name: SAS_EMOJI[index][1],
  }));
}
