-- Event search over the searchEvents read model (`search_events`, created by the projection runner).
-- Both extensions ship with PostgreSQL and are trusted, so the database owner may create them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE (its dictionary could change); naming the dictionary makes this wrapper safe
-- to declare IMMUTABLE, which expression indexes require.
CREATE OR REPLACE FUNCTION search_fold(value text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, coalesce(value, ''))) $$;

-- The weighted document: name A, venue location B, performers C, description D.
CREATE OR REPLACE FUNCTION search_vector(name text, venue_location text, description text, performer_names text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, search_fold(name)), 'A')
        || setweight(to_tsvector('simple'::regconfig, search_fold(venue_location)), 'B')
        || setweight(to_tsvector('simple'::regconfig, search_fold(performer_names)), 'C')
        || setweight(to_tsvector('simple'::regconfig, search_fold(description)), 'D')
  $$;

-- All searchable fields as one folded text, for trigram (typo) matching.
CREATE OR REPLACE FUNCTION search_text(name text, venue_location text, description text, performer_names text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT search_fold(concat_ws(' ', name, venue_location, description, performer_names)) $$;
