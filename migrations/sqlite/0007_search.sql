-- Event search. The rows are the searchEvents read model (`search_events`, created by the projection
-- runner); this FTS5 index reads them as external content. The triggers that keep it in step are created
-- by the search feature once that table exists, and again after a rebuild swapped it.
CREATE VIRTUAL TABLE search_events_fts USING fts5(
  name, venue_location, description, performer_names,
  content = 'search_events', content_rowid = 'rowid',
  tokenize = 'unicode61 remove_diacritics 2'
);
-- The indexed terms, for typo-tolerant expansion of query words.
CREATE VIRTUAL TABLE search_events_terms USING fts5vocab(search_events_fts, 'row');
