-- SQLite already compares text byte by byte (BINARY), the order 0012 gives PostgreSQL's seat labels.
SELECT 1;
