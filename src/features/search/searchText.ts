/**
 * The text search reads: one folding for the indexed fields and the query alike, the words of a text,
 * and the stored form of an event's searchable fields (`search_text`). Pure.
 */

/** The searchable fields of an event, in the order `search_text` keeps them, and their weights in the score. */
export const FIELDS = ['name', 'venue_name', 'venue_location', 'description', 'performer_names'] as const;
export type SearchField = (typeof FIELDS)[number];

/** Field weights: API.md's name ×4, venue location ×2, description and performers ×1; the venue's name ×2 is our choice. */
export const WEIGHTS: Readonly<Record<SearchField, number>> = { name: 4, venue_name: 2, venue_location: 2, description: 1, performer_names: 1 };

/** Letters that Unicode does not decompose into a base letter and a mark, lower-case (capitals are lowered first). */
const UNDECOMPOSED: Readonly<Record<string, string>> = { ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ß: 'ss', æ: 'ae', œ: 'oe', ı: 'i' };
const UNDECOMPOSED_LETTER = new RegExp(`[${Object.keys(UNDECOMPOSED).join('')}]`, 'gu');

/**
 * Lower-case without accents: NFKD, combining marks and format characters (U+200B, soft hyphen…)
 * dropped, and ø ł đ ð þ ß æ œ ı spelt o l d d th ss ae oe i. "Røyksopp Straße" → "royksopp strasse".
 */
export const fold = (text: string): string =>
  text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[\p{M}\p{Cf}]/gu, '')
    .replace(UNDECOMPOSED_LETTER, (letter) => UNDECOMPOSED[letter]!);

/**
 * The longest word kept, in letters: a longer one (a pasted hash or blob) is cut to its start, on the
 * index side and the query side alike. Postgres refuses a tsvector word over 2047 bytes.
 */
const MAX_WORD_LETTERS = 100;

/** The folded words of a text: runs of letters and digits, each cut to MAX_WORD_LETTERS. */
export const wordsOf = (text: string): string[] =>
  fold(text)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0)
    .map((word) => (word.length > MAX_WORD_LETTERS ? [...word].slice(0, MAX_WORD_LETTERS).join('') : word));

/** The distinct words of a query, at most 10 (a longer query adds cost, not precision; a repeated word, weight). */
export const queryWordsOf = (q: string): string[] => [...new Set(wordsOf(q))].slice(0, 10);

/** A q of nothing but spaces and format characters (a zero-width space) is an empty q: it lists events by date. */
export const isBlankQuery = (q: string): boolean => q.replace(/[\s\p{Cf}]/gu, '') === '';

/** Letters (code points) in a word, the unit of prefixes and edits. */
export const lengthOf = (word: string): number => [...word].length;

/** The stored `search_text` of an event: the folded words of each field (FIELDS order), one line per field. */
export const searchTextOf = (fields: Readonly<Record<SearchField, string>>): string => FIELDS.map((field) => wordsOf(fields[field]).join(' ')).join('\n');

/** The words of each field (FIELDS order) of a `search_text`. */
export const fieldWordsOf = (searchText: string): string[][] => searchText.split('\n').map((line) => (line === '' ? [] : line.split(' ')));
