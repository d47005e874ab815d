-- The data lake became a projection of the event log (src/features/dataLake): its runner creates the
-- new `data_lake` table and fills it from the whole log, so the handler's table and its bookkeeping go.
DROP TABLE data_lake;
DELETE FROM inbox WHERE handler = 'dataLake';
DELETE FROM delivery_attempts WHERE handler = 'dataLake';
DELETE FROM dead_letters WHERE handler = 'dataLake';
