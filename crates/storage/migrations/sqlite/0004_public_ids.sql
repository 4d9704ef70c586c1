-- Public numeric ids (tasks, works, avatars, uploads) come from one counter,
-- so each stays below JavaScript's 2^53 (the domain appends three random
-- digits). Ids made before this are 19-digit strings and keep working: ids
-- are TEXT and the counter's values are far shorter, so none collide.
CREATE TABLE id_sequence (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT INTO id_sequence (name, value) VALUES ('public', 100000000000);
