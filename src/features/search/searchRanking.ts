import { FIELDS, lengthOf, WEIGHTS } from './searchText';

/**
 * The one definition of what a query matches and how well, shared by both databases: their indexes
 * only recall candidates (a superset), and `rank` decides, scores, orders and pages them. Pure.
 *
 * A query word matches an indexed word exactly (quality 1), as its prefix when 3+ letters long (0.9), or
 * within `maxEdits` edits, a transposition of adjacent letters counting as one (one edit 0.8, two 0.6).
 * Every query word must match, but filler words (`isFiller`) beside others: they only add to the score
 * where they match. A word's score is the best over fields of weight × quality; the event's score is the
 * sum over the query's words.
 */

const EXACT = 1;
const PREFIX = 0.9;
const BY_EDITS = [EXACT, 0.8, 0.6] as const;

/** How many edits a word may carry and still match: none below 4 letters, where one edit is another word; one below 8; two from 8. */
export const maxEdits = (word: string): number => {
  const length = lengthOf(word);
  return length >= 8 ? 2 : length >= 4 ? 1 : 0;
};

/**
 * Optimal-string-alignment distance of `a` and `b` (Levenshtein plus transposition of adjacent letters
 * as one edit), counted in code points, or `limit + 1` as soon as it is known to exceed `limit`.
 */
export function editDistance(a: string, b: string, limit: number): number {
  const s = [...a];
  const t = [...b];
  if (Math.abs(s.length - t.length) > limit) return limit + 1;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  let previousBest = 0;
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= t.length; j++) {
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) value = Math.min(value, beforePrevious[j - 2]! + 1);
      current.push(value);
      best = Math.min(best, value);
    }
    // A cell builds on the two rows above it, so two rows past the limit mean every later one is too.
    if (best > limit && previousBest > limit) return limit + 1;
    beforePrevious = previous;
    previous = current;
    previousBest = best;
  }
  return Math.min(previous[t.length]!, limit + 1);
}

/** How well query word `word` matches indexed word `term`: 1, 0.9, 0.8, 0.6, or 0 for no match. */
export function matchQuality(word: string, term: string): number {
  if (word === term) return EXACT;
  if (lengthOf(word) >= 3 && term.startsWith(word)) return PREFIX;
  const limit = maxEdits(word);
  if (limit === 0) return 0;
  const edits = editDistance(word, term, limit);
  return edits <= limit ? BY_EDITS[edits]! : 0;
}

/**
 * Words people put between the words they look for ("jazz in london", "jazz at the olympia"): every
 * word under 3 letters, and the common longer ones of the languages our events are named in.
 */
const FILLERS = new Set(['the', 'and', 'for', 'with', 'from', 'les', 'des', 'une', 'los', 'las', 'del', 'der', 'die', 'das', 'und', 'den']);

/** Whether a (folded) query word is a filler: not required to match when the query has other words. */
export const isFiller = (word: string): boolean => lengthOf(word) < 3 || FILLERS.has(word);

/**
 * A query word as the indexes look it up: itself, as a prefix when 3+ letters long, and the indexed
 * words within its edits. An optional one is not looked up, and scores where it matches.
 */
export interface QueryTerm {
  word: string;
  prefix: boolean;
  near: string[];
  optional: boolean;
}

/** The query terms of `words`, given the indexed words (`vocabulary`, any order) that might be near them. */
export function expandQuery(words: readonly string[], vocabulary: readonly string[]): QueryTerm[] {
  const allFillers = words.every(isFiller);
  return words.map((word) => {
    const limit = maxEdits(word);
    const prefix = lengthOf(word) >= 3;
    const near = limit === 0 ? [] : vocabulary.filter((term) => term !== word && !(prefix && term.startsWith(word)) && editDistance(word, term, limit) <= limit);
    return { word, prefix, near: [...new Set(near)].sort(), optional: !allFillers && isFiller(word) };
  });
}

/** The indexed words whose length (in letters) lets them be near some of `words`: the window to read from the vocabulary, or null. */
export function nearLengths(words: readonly string[]): { min: number; max: number } | null {
  const typoTolerant = words.filter((word) => maxEdits(word) > 0);
  if (typoTolerant.length === 0) return null;
  return {
    min: Math.min(...typoTolerant.map((word) => lengthOf(word) - maxEdits(word))),
    max: Math.max(...typoTolerant.map((word) => lengthOf(word) + maxEdits(word))),
  };
}

/**
 * The best quality of a query term in one line of words (a field of `search_text`): one native regex
 * scan finds the words that are the term's word, extend it (prefix) or are among its near words, so
 * the many words that match nothing cost no JavaScript. Only words of the vocabulary are near ones:
 * recall and ranking see the same words.
 */
function lineMatcher({ word, prefix, near }: QueryTerm): (line: string) => number {
  const qualities = new Map<string, number>([[word, EXACT]]);
  for (const term of near) qualities.set(term, matchQuality(word, term));
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const alternatives = [`${escape(word)}${prefix ? '[^ ]*' : ''}`, ...near.map(escape)];
  const pattern = new RegExp(`(?:^| )(${alternatives.join('|')})(?= |$)`, 'gu');
  return (line) => {
    let best = 0;
    for (const [, found] of line.matchAll(pattern)) {
      const quality = qualities.get(found!) ?? (prefix && found!.startsWith(word) ? PREFIX : 0);
      if (quality > best) best = quality;
      if (best === EXACT) break;
    }
    return best;
  };
}

/** A term's line matcher, and whether the term may match nothing. */
interface TermMatcher {
  matches: (line: string) => number;
  optional: boolean;
}

const matcherOf = (term: QueryTerm): TermMatcher => ({ matches: lineMatcher(term), optional: term.optional });

/** The score of the lines of a `search_text` (FIELDS order) for the terms' matchers, or null when some required term matches nothing. */
function scoreLines(matchers: readonly TermMatcher[], lines: readonly string[]): number | null {
  let score = 0;
  for (const { matches, optional } of matchers) {
    let best = 0;
    for (let f = 0; f < lines.length; f++) {
      const weight = WEIGHTS[FIELDS[f]!] ?? 0;
      if (weight * EXACT <= best) continue;
      if (lines[f] !== '') best = Math.max(best, weight * matches(lines[f]!));
    }
    if (best === 0 && !optional) return null;
    score += best;
  }
  return Math.round(score * 1e6) / 1e6;
}

/** The score of an event whose fields hold `fields` (FIELDS order) for the query `words`, or null when some word matches nothing. */
export function scoreOf(words: readonly string[], fields: readonly (readonly string[])[]): number | null {
  return scoreLines(expandQuery(words, fields.flat()).map(matcherOf), fields.map((terms) => terms.join(' ')));
}

/** An event the index recalled: its id, start time and stored search text. */
export interface Candidate {
  event_id: string;
  start_time: string;
  search_text: string;
}

export interface Ranked {
  /** The page asked for: ids and scores, best first. */
  hits: { event_id: string; score: number }[];
  /** How many candidates match. */
  total: number;
}

/**
 * The candidates that match the query (its terms, from `expandQuery`), by score (higher first), then
 * start time, then id; page `page` (1-based) of `size`.
 */
export function rank(terms: readonly QueryTerm[], candidates: readonly Candidate[], { page, size }: { page: number; size: number }): Ranked {
  const matchers = terms.map(matcherOf);
  const matches: { event_id: string; start_time: string; score: number }[] = [];
  for (const candidate of candidates) {
    const score = scoreLines(matchers, candidate.search_text.split('\n'));
    if (score !== null) matches.push({ event_id: candidate.event_id, start_time: candidate.start_time, score });
  }
  matches.sort((a, b) => b.score - a.score || compare(a.start_time, b.start_time) || compare(a.event_id, b.event_id));
  const start = (page - 1) * size;
  return { hits: matches.slice(start, start + size).map(({ event_id, score }) => ({ event_id, score })), total: matches.length };
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
