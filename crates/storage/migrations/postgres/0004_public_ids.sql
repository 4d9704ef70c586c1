-- Public numeric ids (tasks, works, avatars, uploads) come from one
-- sequence shared by every node, so they are unique across a scaled-out
-- deployment and stay below JavaScript's 2^53 (the domain appends three
-- random digits, hence the MAXVALUE). Ids made before this are 19-digit
-- strings and keep working: ids are TEXT and never collide with these.
CREATE SEQUENCE public_ids START WITH 100000000001 MAXVALUE 9007199254739 NO CYCLE;
