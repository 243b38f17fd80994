/** Hostile input documents for tests. */

/** A "billion laughs": nine levels of nine aliases, a few hundred bytes, 9^9 strings once expanded. */
export function aliasBomb(levels = 9): string {
  const names = 'abcdefghijklmnop';
  let text = `${names[0]}: &${names[0]} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
  for (let i = 1; i < levels; i++)
    text += `${names[i]}: &${names[i]} [${Array(9)
      .fill(`*${names[i - 1]}`)
      .join(',')}]\n`;
  return text;
}
