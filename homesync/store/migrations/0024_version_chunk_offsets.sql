-- Each manifest row knows where its chunk's bytes begin in the version's content (the
-- sizes of the chunks before it, added up), so a download finds the rows a byte range
-- needs without reading the others: a Range request read every row of the manifest,
-- each joined with its chunk's size (a file of 10 000 chunks: 10 000 lookups for the
-- 256 chunks of 1 MiB). NULL only where a chunk of the version has no row in chunks
-- (which the foreign key forbids): such a version is read the old way and found damaged.
ALTER TABLE version_chunks ADD COLUMN byte_offset INTEGER;
UPDATE version_chunks AS vc SET byte_offset = o.byte_offset
FROM (SELECT v.version_id, v.idx,
             coalesce(sum(c.size) OVER (PARTITION BY v.version_id ORDER BY v.idx
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                      0) AS byte_offset
      FROM version_chunks v JOIN chunks c ON c.hash = v.chunk_hash
      WHERE v.version_id NOT IN (SELECT w.version_id FROM version_chunks w
                                 LEFT JOIN chunks d ON d.hash = w.chunk_hash
                                 WHERE d.hash IS NULL)) AS o
WHERE vc.version_id = o.version_id AND vc.idx = o.idx;
